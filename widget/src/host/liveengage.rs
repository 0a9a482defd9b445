//! The LiveEngage agent workspace's widget SDK, `lpTag.agentSDK` (PLATFORMS.md): `init`
//! once, `bind` to follow the conversation the agent has open, `command("Write ChatLine",
//! {text})` to write into the agent's compose box.
//!
//! LiveEngage frames the Social Widget page; the page then loads the SDK script from the
//! URL the server is configured with (`SOCIALCONNECT_LIVEENGAGE_SDK_URL`, given by
//! `GET /api/meta`), which defines `lpTag.agentSDK` in the widget's own window and talks to
//! the workspace by `postMessage`. [`use_liveengage`] does that and maps each LiveEngage
//! conversation the agent opens (`chatInfo.rtSessionId`) to ours.

use crate::api;
use js_sys::{Array, Function, Object, Promise, Reflect};
use leptos::prelude::*;
use shared::liveengage::HostConversation;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The command that writes into the compose box when the SDK does not name it.
pub const WRITE_CHAT_LINE: &str = "Write ChatLine";

/// Whether another page frames this one (as LiveEngage's agent workspace does).
pub fn framed() -> bool {
    let Some(win) = web_sys::window() else {
        return false;
    };
    match win.top() {
        Ok(Some(top)) => !Object::is(&top, &win),
        // A top this page may not even name is another page's.
        _ => true,
    }
}

fn sdk() -> Option<Object> {
    let win = web_sys::window()?;
    let lp = Reflect::get(&win, &"lpTag".into()).ok()?;
    if !lp.is_object() {
        return None;
    }
    let sdk = Reflect::get(&lp, &"agentSDK".into()).ok()?;
    sdk.is_object().then(|| sdk.unchecked_into())
}

/// Whether the SDK is loaded in this window.
pub fn present() -> bool {
    sdk().is_some()
}

/// Calls `lpTag.agentSDK[method](...args)`; the SDK throwing (say, called before `init`)
/// comes back as its message.
fn call(method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let sdk = sdk().ok_or("LiveEngage's SDK is not loaded")?;
    let f: Function = Reflect::get(&sdk, &method.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("LiveEngage's SDK has no {method}"))?;
    f.apply(&sdk, &args.iter().collect::<Array>()).map_err(|e| {
        Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| format!("lpTag.agentSDK.{method} failed"))
    })
}

/// Loads the SDK script from `url` with a `<script src>` (the page's policy allows its
/// origin), resolving once it ran.
pub async fn load(url: &str) -> Result<(), String> {
    let failed = || format!("LiveEngage's SDK could not be loaded from {url}.");
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(failed)?;
    let script = doc.create_element("script").map_err(|_| failed())?;
    script.set_attribute("src", url).map_err(|_| failed())?;
    let ran = Promise::new(&mut |resolve, reject| {
        let _ = script.add_event_listener_with_callback("load", &resolve);
        let _ = script.add_event_listener_with_callback("error", &reject);
    });
    doc.head()
        .ok_or_else(failed)?
        .append_child(&script)
        .map_err(|_| failed())?;
    wasm_bindgen_futures::JsFuture::from(ran)
        .await
        .map_err(|_| failed())?;
    if present() { Ok(()) } else { Err(failed()) }
}

/// `init({})`: the SDK wants it once before anything else.
pub fn init() -> Result<(), String> {
    call("init", &[Object::new().into()]).map(drop)
}

/// `bind(path, cb)`: `on` gets the path's `newValue` now and on every change, for as long
/// as the page lives.
pub fn bind(path: &str, on: impl Fn(JsValue) + 'static) -> Result<(), String> {
    let cb = Closure::<dyn Fn(JsValue)>::new(move |data: JsValue| {
        on(Reflect::get(&data, &"newValue".into()).unwrap_or(JsValue::UNDEFINED))
    })
    .into_js_value();
    call("bind", &[path.into(), cb]).map(drop)
}

/// `command(cmdNames.write, {text}, cb)`.
pub fn write(text: &str) {
    let name = sdk()
        .and_then(|s| Reflect::get(&s, &"cmdNames".into()).ok())
        .filter(JsValue::is_object)
        .and_then(|n| Reflect::get(&n, &"write".into()).ok())
        .and_then(|w| w.as_string())
        .unwrap_or_else(|| WRITE_CHAT_LINE.to_owned());
    let data = Object::new();
    let _ = Reflect::set(&data, &"text".into(), &text.into());
    let done = Closure::once_into_js(|_err: JsValue| {});
    let _ = call("command", &[name.into(), data.into(), done]);
}

/// How the widget stands with LiveEngage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Loading the SDK and binding.
    Connecting,
    /// Bound: following the agent's conversation.
    Connected,
    /// The SDK could not be loaded or refused; the reason, for the agent.
    Failed(String),
}

/// What [`use_liveengage`] gives the widget page.
#[derive(Clone, Copy)]
pub struct UseLiveEngageReturn {
    pub connection: RwSignal<Connection>,
    /// The LiveEngage conversation the agent has open (`chatInfo.rtSessionId`; empty:
    /// none).
    pub le_conversation: RwSignal<String>,
    /// Our conversation behind it, once mapped; `None` while none is open or it is not one
    /// of ours.
    pub conversation: Signal<Option<i64>>,
    /// The reply mode an agent chose for it earlier and the server kept (`None`: none
    /// chosen; replies follow the consumer).
    pub kept: Signal<Option<shared::ReplyMode>>,
    /// Why the open LiveEngage conversation shows nothing, when it does not.
    pub unmapped: Signal<Option<String>>,
    /// The consumer as LiveEngage names them (`visitorInfo.visitorName`).
    pub visitor: RwSignal<Option<String>>,
    /// Bumped whenever LiveEngage's transcript gets lines (`chatTranscript.lines`).
    pub lines: RwSignal<u64>,
}

/// Inside LiveEngage: loads the SDK (unless the page has it), `init`s, binds the open
/// conversation, the visitor's name and the transcript, and maps each LiveEngage
/// conversation to ours (`GET /api/liveengage/conversations/{id}`).
pub fn use_liveengage() -> UseLiveEngageReturn {
    let connection = RwSignal::new(Connection::Connecting);
    let le_conversation = RwSignal::new(String::new());
    let visitor = RwSignal::new(None::<String>);
    let lines = RwSignal::new(0u64);
    leptos::task::spawn_local(async move {
        let connected = async {
            if !present() {
                let meta = api::meta().await.map_err(|e| e.message)?;
                if meta.liveengage_sdk_url.is_empty() {
                    return Err("This server names no LiveEngage SDK.".to_owned());
                }
                load(&meta.liveengage_sdk_url).await?;
            }
            init()?;
            bind("chatInfo.rtSessionId", move |v| {
                let id = v.as_string().unwrap_or_default();
                le_conversation.try_set(id);
            })?;
            bind("visitorInfo.visitorName", move |v| {
                visitor.try_set(v.as_string().filter(|n| !n.is_empty()));
            })?;
            bind("chatTranscript.lines", move |_| {
                lines.try_update(|n| *n += 1);
            })
        }
        .await;
        connection.try_set(match connected {
            Ok(()) => Connection::Connected,
            Err(why) => Connection::Failed(why),
        });
    });
    let mapped = crate::state::load(move || {
        let id = le_conversation.get();
        async move {
            let answer = if id.is_empty() {
                None
            } else {
                let path = format!(
                    "/api/liveengage/conversations/{}",
                    shared::onboarding::encode_component(&id)
                );
                Some(api::get::<HostConversation>(&path).await)
            };
            (id, answer)
        }
    });
    // Only the answer for the conversation open now: never the last one's consumer while
    // the next one's is on its way.
    let current = move || {
        mapped
            .get()
            .filter(|(id, _)| le_conversation.with(|now| now == id))
            .and_then(|(_, answer)| answer)
    };
    let conversation = Signal::derive(move || {
        current()
            .and_then(Result::ok)
            .map(|h: HostConversation| h.conversation_id)
    });
    let kept = Signal::derive(move || {
        current()
            .and_then(Result::ok)
            .filter(|h: &HostConversation| h.chosen)
            .map(|h| h.mode)
    });
    let unmapped = Signal::derive(move || match current() {
        Some(Err(e)) if e.code == shared::ErrorCode::NotFound => Some(
            "This LiveEngage conversation did not come from SocialConnect, or is not yours to see."
                .to_owned(),
        ),
        Some(Err(e)) => Some(e.message),
        _ => None,
    });
    UseLiveEngageReturn {
        connection,
        le_conversation,
        conversation,
        kept,
        unmapped,
        visitor,
        lines,
    }
}
