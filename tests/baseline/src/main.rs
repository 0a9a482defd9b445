//! The smallest Leptos page that does what the budget measures: mounts, renders one line
//! and marks itself interactive (`sc-interactive`, as the workspace does when its
//! transcript is up). Built by Trunk exactly as the widget is (`cargo xtask budgets`).

use leptos::prelude::*;

#[component]
fn Baseline() -> impl IntoView {
    Effect::new(|_| {
        if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
            let _ = p.mark("sc-interactive");
        }
    });
    view! { <main><p>"Interactive."</p></main> }
}

fn main() {
    leptos::mount::mount_to_body(Baseline);
}
