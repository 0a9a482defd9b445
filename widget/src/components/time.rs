//! Times in the agent's time zone (the rule is `shared::time`'s): relative while it is
//! their today, a date and time otherwise, the exact time on hover and in `datetime`. One
//! clock per page moves them all.

use leptos::prelude::*;

/// The page's clock (milliseconds), moving every 20 seconds.
#[derive(Clone, Copy)]
pub struct PageClock(pub Signal<i64>);

/// Starts the page's clock for the components below (see [`use_now`]).
pub fn provide_clock() -> Signal<i64> {
    let now = RwSignal::new(super::compose::now_ms());
    if let Ok(handle) = set_interval_with_handle(
        move || now.set(super::compose::now_ms()),
        std::time::Duration::from_secs(20),
    ) {
        on_cleanup(move || handle.clear());
    }
    provide_context(PageClock(now.into()));
    now.into()
}

/// The page's clock, or the time now when no page provides one.
pub fn use_now() -> Signal<i64> {
    use_context::<PageClock>()
        .map(|c| c.0)
        .unwrap_or_else(|| Signal::stored(super::compose::now_ms()))
}

/// The browser's offset from UTC at `ms`, in minutes east (so summer time counts).
pub fn utc_offset(ms: i64) -> i32 {
    -(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64)).get_timezone_offset() as i32)
}

/// How an RFC 3339 time reads at `now` where the agent is; anything else as given.
pub fn shown(rfc3339: &str, now: i64) -> String {
    match shared::time::parse_rfc3339(rfc3339) {
        Some(ms) => shared::time::shown(ms, now, utc_offset(ms)),
        None => rfc3339.to_owned(),
    }
}

/// A time as the agent reads it, exact on hover.
#[component]
pub fn Time(
    /// RFC 3339, as the API gives it.
    at: String,
) -> impl IntoView {
    let now = use_now();
    let exact = shared::time::parse_rfc3339(&at).map(|ms| shared::time::exact(ms, utc_offset(ms)));
    let text = {
        let at = at.clone();
        move || shown(&at, now.get())
    };
    view! {
        <time class="sc-time" datetime=at title=exact>
            {text}
        </time>
    }
}
