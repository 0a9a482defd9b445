//! The bundle's navigation in headless Chromium: links to this bundle's pages change the
//! page without a load and keep the history; what the browser should handle, it does.
//! (A file of its own: one app, one click listener, per test page.)

#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use shared::bundles::Bundle;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_test::*;
use widget::nav::{Nav, NavLink};

wasm_bindgen_test_configure!(run_in_browser);

fn link(id: &str) -> web_sys::HtmlElement {
    document().get_element_by_id(id).unwrap().unchecked_into()
}

fn page_path() -> String {
    window().location().pathname().unwrap()
}

#[wasm_bindgen_test]
async fn links_to_this_bundle_change_the_page_without_a_load() {
    // Whatever the router leaves to the browser must not take this test page away.
    let keep = Closure::<dyn FnMut(web_sys::Event)>::new(|e: web_sys::Event| e.prevent_default());
    window()
        .add_event_listener_with_callback("click", keep.as_ref().unchecked_ref())
        .unwrap();
    keep.forget();

    let slot: Rc<Cell<Option<Nav>>> = Rc::default();
    let root: web_sys::HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&root).unwrap();
    let s = slot.clone();
    std::mem::forget(leptos::mount::mount_to(root, move || {
        s.set(Some(widget::nav::provide(Bundle::Agent)));
        view! {
            <NavLink href="/workspace">"Workspace"</NavLink>
            <a id="conversation" href="/workspace?conversation=3#latest">"Conversation 3"</a>
            <a id="external" href="/widget" rel="external">"Widget"</a>
            <a id="new-tab" href="/widget" target="_blank">"Widget"</a>
        }
    }));
    let nav = slot.get().unwrap();
    let start = page_path();
    let marker = document().query_selector("a[aria-current]").unwrap();
    assert!(marker.is_none(), "a link is marked current on {start}");

    link("conversation").click();
    assert_eq!(page_path(), "/workspace");
    assert_eq!(nav.path.get_untracked(), "/workspace");
    assert_eq!(nav.query_untracked("conversation").as_deref(), Some("3"));
    assert_eq!(window().location().hash().unwrap(), "#latest");
    leptos::task::tick().await;
    let current = document()
        .query_selector("a[aria-current=page]")
        .unwrap()
        .unwrap();
    assert_eq!(current.text_content().unwrap(), "Workspace");

    // Left to the browser (and stopped above): these change nothing here.
    link("external").click();
    link("new-tab").click();
    let ctrl = web_sys::MouseEventInit::new();
    ctrl.set_bubbles(true);
    ctrl.set_cancelable(true);
    ctrl.set_ctrl_key(true);
    let event = web_sys::MouseEvent::new_with_mouse_event_init_dict("click", &ctrl).unwrap();
    link("new-tab").dispatch_event(&event).unwrap();
    assert_eq!(nav.path.get_untracked(), "/workspace");

    // Back: the address before, from the browser's history.
    window().history().unwrap().back().unwrap();
    for _ in 0..100 {
        if nav.path.get_untracked() == start {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    assert_eq!(nav.path.get_untracked(), start);
    assert_eq!(nav.query_untracked("conversation"), None);
}
