//! Live updates: one `EventSource` on `/api/events` while a page needs it. The server's
//! events only say that something changed, so pages track [`UseLiveReturn::changes`] in
//! their fetchers and fetch again through the authorised API. When the stream fails, the
//! session is asked about: a person whose session has ended (deactivated, or signed out
//! elsewhere) is taken to the sign-in page at once; a network blip changes nothing.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// What [`use_live`] gives a page.
#[derive(Clone, Copy)]
pub struct UseLiveReturn {
    /// Counts changes (and reconnections, after which anything may have changed).
    pub changes: ReadSignal<u64>,
    /// Whether the stream is open right now.
    pub connected: ReadSignal<bool>,
}

type Handlers = (
    web_sys::EventSource,
    Closure<dyn FnMut(web_sys::MessageEvent)>,
    Closure<dyn FnMut(web_sys::Event)>,
    Closure<dyn FnMut(web_sys::Event)>,
);

/// Subscribes to `/api/events` for as long as the calling component lives. The browser
/// reconnects by itself after a network error; a stream refused because the session has
/// ended signs the page out (see [`check_session`]).
pub fn use_live() -> UseLiveReturn {
    use_live_at("/api/events")
}

/// Like [`use_live`], on another event stream of the same shape (`url`).
pub fn use_live_at(url: &str) -> UseLiveReturn {
    let (changes, set_changes) = signal(0u64);
    let (connected, set_connected) = signal(false);
    let Ok(source) = web_sys::EventSource::new(url) else {
        return UseLiveReturn { changes, connected };
    };
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
        set_changes.update(|n| *n += 1);
    });
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        set_connected.set(true);
        // Whatever happened while we were away: fetch again.
        set_changes.update(|n| *n += 1);
    });
    let auth = use_context::<crate::state::Auth>();
    let nav = use_context::<crate::nav::Nav>();
    let checking = std::rc::Rc::new(std::cell::Cell::new(false));
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        set_connected.set(false);
        // One question at a time: the browser may report several failed reconnections
        // while the answer is on its way.
        if let (Some(auth), Some(nav)) = (auth, nav)
            && !checking.replace(true)
        {
            let checking = checking.clone();
            leptos::task::spawn_local(async move {
                check_session(auth, nav).await;
                checking.set(false);
            });
        }
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let held: StoredValue<Option<Handlers>, LocalStorage> =
        StoredValue::new_local(Some((source, on_message, on_open, on_error)));
    on_cleanup(move || {
        if let Some(Some((source, ..))) = held.try_update_value(Option::take) {
            source.close();
        }
    });
    UseLiveReturn { changes, connected }
}

/// Asks the server whether this page's session still holds; when it answers that no one
/// is signed in (401), forgets the signed-in person and shows the sign-in page, as signing
/// out does. Any other failure (the network, the server restarting) is not an answer, and
/// the browser's reconnection carries on.
async fn check_session(auth: crate::state::Auth, nav: crate::nav::Nav) {
    if let Ok(None) = crate::api::session().await {
        crate::api::set_csrf(None);
        let _ = auth.me.try_set(Some(None));
        nav.push(crate::SIGN_IN_PATH);
    }
}
