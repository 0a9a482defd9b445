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
    /// The latest "someone else is typing" (a `typing` event; others only say "changed"),
    /// for [`TYPING_SHOWN`] after it came.
    pub typing: ReadSignal<Option<shared::api::Typing>>,
}

/// How long "NAME is typing…" lasts after the last `typing` event.
pub const TYPING_SHOWN: std::time::Duration = std::time::Duration::from_secs(5);

type PageListeners = (
    Closure<dyn FnMut(web_sys::Event)>,
    Closure<dyn FnMut(web_sys::Event)>,
);

/// The stream and what it calls; the stream is `None` while the page is hidden.
struct Stream {
    url: String,
    source: Option<web_sys::EventSource>,
    on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    on_open: Closure<dyn FnMut(web_sys::Event)>,
    on_error: Closure<dyn FnMut(web_sys::Event)>,
    on_typing: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Stream {
    fn connect(&mut self) {
        if self.source.is_some() {
            return;
        }
        if let Ok(source) = web_sys::EventSource::new(&self.url) {
            source.set_onmessage(Some(self.on_message.as_ref().unchecked_ref()));
            source.set_onopen(Some(self.on_open.as_ref().unchecked_ref()));
            source.set_onerror(Some(self.on_error.as_ref().unchecked_ref()));
            let _ = source.add_event_listener_with_callback(
                shared::api::TYPING_EVENT,
                self.on_typing.as_ref().unchecked_ref(),
            );
            self.source = Some(source);
        }
    }

    fn close(&mut self) {
        if let Some(source) = self.source.take() {
            source.close();
        }
    }
}

/// Subscribes to `/api/events` for as long as the calling component lives. The browser
/// reconnects by itself after a network error; a stream refused because the session has
/// ended signs the page out (see [`check_session`]).
pub fn use_live() -> UseLiveReturn {
    use_live_at("/api/events")
}

/// Like [`use_live`], on another event stream of the same shape (`url`). The stream is
/// closed when the page is hidden (`pagehide`: a page left for another may stay in the
/// back/forward cache, and its open stream would hold one of the browser's few
/// connections per host) and opened again when it is shown (`pageshow`).
pub fn use_live_at(url: &str) -> UseLiveReturn {
    let (changes, set_changes) = signal(0u64);
    let (connected, set_connected) = signal(false);
    let (typing, set_typing) = signal(None);
    let told = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let on_typing =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Some(t) = e.data().as_string().as_deref().and_then(typing_event) {
                // Kept until a timer ends it, unless newer news came meanwhile.
                let this = told.get().wrapping_add(1);
                told.set(this);
                set_typing.set(Some(t));
                let told = told.clone();
                set_timeout(
                    move || {
                        if told.get() == this {
                            set_typing.try_set(None);
                        }
                    },
                    TYPING_SHOWN,
                );
            }
        });
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
    let mut stream = Stream {
        url: url.to_owned(),
        source: None,
        on_message,
        on_open,
        on_error,
        on_typing,
    };
    stream.connect();
    let held: StoredValue<Option<Stream>, LocalStorage> = StoredValue::new_local(Some(stream));
    let on_hide = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        held.update_value(|s| s.iter_mut().for_each(Stream::close));
        set_connected.set(false);
    });
    let on_show = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        held.update_value(|s| s.iter_mut().for_each(Stream::connect));
    });
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
        let _ = w.add_event_listener_with_callback("pageshow", on_show.as_ref().unchecked_ref());
    }
    let listeners: StoredValue<Option<PageListeners>, LocalStorage> =
        StoredValue::new_local(Some((on_hide, on_show)));
    on_cleanup(move || {
        if let (Some(w), Some(Some((on_hide, on_show)))) =
            (web_sys::window(), listeners.try_update_value(Option::take))
        {
            let _ =
                w.remove_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
            let _ =
                w.remove_event_listener_with_callback("pageshow", on_show.as_ref().unchecked_ref());
        }
        if let Some(Some(mut stream)) = held.try_update_value(Option::take) {
            stream.close();
        }
    });
    UseLiveReturn {
        changes,
        connected,
        typing,
    }
}

/// Reads a `typing` event's data through the browser's own JSON parser (a serde decoder
/// for it would weigh more in the bundle).
fn typing_event(data: &str) -> Option<shared::api::Typing> {
    let value = js_sys::JSON::parse(data).ok()?;
    let get = |o: &wasm_bindgen::JsValue, key: &str| js_sys::Reflect::get(o, &key.into()).ok();
    let agent = get(&value, "agent")?;
    Some(shared::api::Typing {
        conversation_id: get(&value, "conversation_id")?.as_f64()? as i64,
        agent: shared::api::AgentRef {
            id: get(&agent, "id")?.as_f64()? as i64,
            name: get(&agent, "name")?.as_string()?,
        },
    })
}

/// Asks the server whether this page's session still holds; when it answers that no one
/// is signed in (401), forgets the signed-in person and shows the sign-in page, as signing
/// out does. Any other failure (the network, the server restarting) is not an answer, and
/// the browser's reconnection carries on.
async fn check_session(auth: crate::state::Auth, nav: crate::nav::Nav) {
    match crate::api::session().await {
        Ok(None) => {
            crate::api::set_csrf(None);
            let _ = auth.me.try_set(Some(None));
            nav.push(crate::SIGN_IN_PATH);
        }
        Ok(Some(me)) => crate::api::set_csrf(Some(me.csrf_token)),
        Err(_) => {}
    }
}
