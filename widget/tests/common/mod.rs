//! Helpers the widget's DOM tests share.

#![allow(dead_code)]

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Mounts `view` in a fresh element of the test page, kept for the page's life.
pub fn mount<V: IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> web_sys::HtmlElement {
    let root: web_sys::HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&root).unwrap();
    std::mem::forget(leptos::mount::mount_to(root.clone(), view));
    root
}

/// Waits, a tick at a time, until `f` holds (the network answer arrives asynchronously).
pub async fn until(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    panic!("condition never held");
}
