//! The agent's app in headless Chromium when the check at start ("who is signed in?") is
//! answered only after the person has signed in: that stale "no one" must not send them
//! back to the sign-in page. The page's `fetch` answers as the server would, holding the
//! check's answer until the test lets it go (a test binary of its own, so no other test
//! sees the stand-in).

#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use shared::api::{AccountSummary, Me};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

mod common;

use common::{mount, until};

wasm_bindgen_test_configure!(run_in_browser);

/// `window.fetch` as the server: `GET /api/session` asked before the sign-in waits for
/// `window.__release()` and then answers 401; one asked after answers `ME`, as does the
/// sign-in itself; anything else is not found.
const STAND_IN: &str = r#"
window.__signedIn = false;
window.__staleAnswered = false;
window.fetch = async (req, init) => {
  const r = typeof req === 'string' ? new Request(req, init) : req;
  const path = new URL(r.url, location.href).pathname;
  const json = (status, body) => new Response(JSON.stringify(body), {
    status, headers: {'Content-Type': 'application/json'},
  });
  if (path === '/api/session' && r.method === 'POST') {
    window.__signedIn = true;
    return json(200, window.__me);
  }
  if (path === '/api/session' && r.method === 'GET') {
    if (window.__signedIn) {
      return json(200, window.__me);
    }
    await new Promise(resolve => { window.__release = resolve; });
    setTimeout(() => { window.__staleAnswered = true; }, 0);
    return json(401, {code: 'unauthenticated', message: 'no one is signed in'});
  }
  return json(404, {code: 'not_found', message: 'not here'});
};
"#;

fn js_true(expr: &str) -> bool {
    js_sys::eval(expr).ok().and_then(|v| v.as_bool()) == Some(true)
}

fn path() -> String {
    window().location().pathname().unwrap()
}

fn fill(id: &str, value: &str) {
    let input: web_sys::HtmlInputElement =
        document().get_element_by_id(id).unwrap().unchecked_into();
    input.set_value(value);
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
}

#[wasm_bindgen_test]
async fn a_check_at_start_answered_after_the_sign_in_does_not_sign_the_person_out() {
    let me = Me {
        user_id: 2,
        email: "bea@demo.example".into(),
        name: "Bea Agent".into(),
        role: shared::Role::Agent,
        account: Some(AccountSummary {
            number: "1000".into(),
            name: "Demo".into(),
            socialconnect_enabled: true,
        }),
        csrf_token: "token".into(),
    };
    let me = serde_json::to_string(&me).unwrap();
    js_sys::eval(&format!("window.__me = {me};")).unwrap();
    js_sys::eval(STAND_IN).unwrap();
    window()
        .history()
        .unwrap()
        .push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/login"))
        .unwrap();
    mount(|| view! { <widget::AgentApp /> });

    until(|| document().get_element_by_id("sign-in-password").is_some()).await;
    // The check at start is on its way, and stays there for now.
    until(|| js_true("typeof window.__release === 'function'")).await;
    fill("sign-in-account", "1000");
    fill("sign-in-email", "bea@demo.example");
    fill("sign-in-password", "bea-demo-password");
    let form: web_sys::HtmlFormElement = document()
        .query_selector("form")
        .unwrap()
        .unwrap()
        .unchecked_into();
    form.request_submit().unwrap();
    until(|| path() == "/workspace").await;

    // Now the check's "no one" arrives.
    js_sys::eval("window.__release()").unwrap();
    until(|| js_true("window.__staleAnswered")).await;
    // Whatever it would set off (a redirect is spawned) has had its turn.
    gloo_timers::future::TimeoutFuture::new(200).await;

    assert_eq!(path(), "/workspace", "sent back to sign in");
    assert!(
        document().get_element_by_id("sign-in-password").is_none(),
        "the sign-in form is shown again"
    );
    assert!(
        document()
            .body()
            .unwrap()
            .text_content()
            .unwrap()
            .contains("Queue"),
        "the workspace is not shown"
    );
}
