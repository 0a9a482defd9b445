//! Mounts the agent's bundle of the SocialConnect SPA (`index.html`).

fn main() {
    // Readable panics while developing; release builds abort on panic anyway, and the
    // hook's formatting costs transfer size.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(widget::AgentApp);
}
