//! The LiveEngage agent workspace's widget SDK, `lpTag.agentSDK` (PLATFORMS.md): `init`
//! once, `get`/`bind` to read the conversation, `command("Write ChatLine", {text})` to
//! write into the agent's compose box.
//!
//! The SDK is looked up on this page and, when the widget is embedded by a same-origin
//! page, on the page around it; a cross-origin parent simply is not found.

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The command that writes into the compose box when the SDK does not name it.
pub const WRITE_CHAT_LINE: &str = "Write ChatLine";

fn find_in(win: &JsValue) -> Option<Object> {
    let lp = Reflect::get(win, &"lpTag".into()).ok()?;
    if !lp.is_object() {
        return None;
    }
    let sdk = Reflect::get(&lp, &"agentSDK".into()).ok()?;
    sdk.is_object().then(|| sdk.unchecked_into())
}

fn sdk() -> Option<Object> {
    let win = web_sys::window()?;
    find_in(&win).or_else(|| {
        let parent = win.parent().ok().flatten()?;
        find_in(&parent)
    })
}

/// Whether the SDK is there.
pub fn present() -> bool {
    sdk().is_some()
}

fn call(method: &str, args: &[JsValue]) -> Option<JsValue> {
    let sdk = sdk()?;
    let f: Function = Reflect::get(&sdk, &method.into()).ok()?.dyn_into().ok()?;
    f.apply(&sdk, &args.iter().collect::<Array>()).ok()
}

/// `init({})`: the SDK wants it once before anything else.
pub fn init() {
    call("init", &[Object::new().into()]);
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
    call("command", &[name.into(), data.into(), done]);
}

/// `get("visitorInfo.visitorName", ok, err)`: the consumer's name as LiveEngage knows it.
pub fn visitor_name(on: impl FnOnce(String) + 'static) {
    let ok = Closure::once_into_js(move |v: JsValue| {
        if let Some(name) = v.as_string() {
            on(name);
        }
    });
    let err = Closure::once_into_js(|_e: JsValue| {});
    call("get", &["visitorInfo.visitorName".into(), ok, err]);
}

/// `bind("chatTranscript.lines", cb)`: `on` runs now and whenever the transcript changes.
pub fn on_transcript_lines(on: impl Fn() + 'static) {
    let cb = Closure::<dyn Fn(JsValue)>::new(move |_data: JsValue| on()).into_js_value();
    call("bind", &["chatTranscript.lines".into(), cb]);
}
