//! DOM test of the live stream's life cycle in headless Chromium: a page that is hidden
//! (`pagehide`, e.g. left for another while the back/forward cache keeps it) closes its
//! event stream, and opens a new one when shown again (`pageshow`).

#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Replaces the browser's `EventSource` with one that counts what is opened and closed.
fn count_event_sources() {
    js_sys::eval(
        "window.__opened = 0; window.__closed = 0;
         window.EventSource = class {
             constructor(url) { window.__opened += 1; this.url = url; this.readyState = 0; }
             close() { window.__closed += 1; this.readyState = 2; }
         };",
    )
    .unwrap();
}

fn counted(name: &str) -> f64 {
    js_sys::Reflect::get(&web_sys::window().unwrap(), &name.into())
        .unwrap()
        .as_f64()
        .unwrap()
}

fn fire(kind: &str) {
    web_sys::window()
        .unwrap()
        .dispatch_event(&web_sys::Event::new(kind).unwrap())
        .unwrap();
}

#[wasm_bindgen_test]
async fn a_hidden_page_closes_its_stream_and_opens_one_when_shown() {
    count_event_sources();
    let root: web_sys::HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&root).unwrap();
    let handle = leptos::mount::mount_to(root, || {
        let live = widget::live::use_live_at("/api/events");
        view! { <p>{move || live.changes.get()}</p> }
    });
    assert_eq!((counted("__opened"), counted("__closed")), (1.0, 0.0));
    fire("pageshow");
    assert_eq!(counted("__opened"), 1.0, "already open: no second stream");
    fire("pagehide");
    assert_eq!(counted("__closed"), 1.0, "hidden: closed");
    fire("pageshow");
    assert_eq!(counted("__opened"), 2.0, "shown again: a new stream");
    drop(handle);
    assert_eq!(counted("__closed"), 2.0, "unmounted: closed");
    fire("pageshow");
    assert_eq!(counted("__opened"), 2.0, "no listener left behind");
}
