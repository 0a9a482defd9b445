//! The agent workspace (`/liveengage/agent/`): the page a LiveEngage agent works in. It
//! lists the account's open conversations, shows the selected one's lines, has the compose
//! box (Send writes as the agent, as [`LiveEngage::agent_says`] does; Close closes), and
//! hosts the brand's widget in an iframe, as the workspace's widget settings do: the
//! product's `/widget` (`{callback}/widget` unless [`LiveEngage::set_widget_url`] or the
//! page's `?widget=` names another).
//!
//! The widget talks to the page through the Agent Workspace Widget SDK the sandbox serves
//! at `/liveengage/webagent/client-SDK.js` (`lpTag.agentSDK`: `init`, `get`, `bind`,
//! `unbind`, `command`, `cmdNames`, `dispose`), over `postMessage` with the origins
//! checked on both sides. The page answers from its model (`chatInfo.rtSessionId`,
//! `chatInfo.accountId`, `chatInfo.chatSkill`, `chatInfo.isMessaging`,
//! `visitorInfo.visitorName`, `visitorInfo.visitorId`, `SDE.customerDetails`,
//! `SDE.personalInfo`, `chatTranscript.lines`), pushes `{key, newValue}` to bindings when
//! the agent selects another conversation or lines arrive (for the transcript, the new
//! lines only), and does `Write ChatLine` `{text}` by writing into the compose box. Like
//! LivePerson's, it is strict: nothing before `init`, only those paths, only known
//! commands.
//!
//! Scripts and styles are files (`assets/`), never inline: the page's
//! Content-Security-Policy allows scripts from the sandbox only and frames from the
//! widget's origin only.

use super::{Conversation, LiveEngage};
use crate::facebook::esc;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

const WORKSPACE_JS: &str = include_str!("assets/workspace.js");
const WORKSPACE_CSS: &str = include_str!("assets/workspace.css");
const SDK_JS: &str = include_str!("assets/client-SDK.js");

/// The path of the SDK script below the sandbox's URL.
pub const SDK_PATH: &str = "/liveengage/webagent/client-SDK.js";
/// The path of the agent workspace page below the sandbox's URL.
pub const WORKSPACE_PATH: &str = "/liveengage/agent/";

#[derive(Debug, Deserialize)]
pub(crate) struct PageParams {
    /// The widget's URL, instead of the configured one.
    widget: Option<String>,
    /// The LiveEngage account (site) id [default: the sandbox's first account].
    account: Option<String>,
}

/// The origin (`scheme://host[:port]`) of an http(s) URL.
fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    matches!(u.scheme(), "http" | "https")
        .then(|| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

/// `GET /liveengage/agent`: the page is the folder's index.
pub(crate) async fn to_page() -> Redirect {
    Redirect::permanent(WORKSPACE_PATH)
}

/// `GET /liveengage/agent/`.
pub(crate) async fn page(State(le): State<LiveEngage>, Query(q): Query<PageParams>) -> Response {
    let widget = q.widget.unwrap_or_else(|| le.widget_url());
    let Some(widget_origin) = origin(&widget) else {
        return (
            StatusCode::BAD_REQUEST,
            "the widget's URL must be an http(s) URL",
        )
            .into_response();
    };
    let account = match q.account {
        Some(a) if le.lock().account(&a).is_some() => a,
        Some(_) => return (StatusCode::NOT_FOUND, "no such account").into_response(),
        None => le.account().id,
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LiveEngage — Agent workspace (sandbox)</title>
<link rel="stylesheet" href="/liveengage/agent/workspace.css">
<script src="/liveengage/agent/workspace.js" defer></script>
</head>
<body data-account="{account}">
<header class="le-bar">
  <span class="le-bar__brand">LiveEngage</span>
  <span class="le-bar__what">Agent workspace · account {account} · sandbox</span>
  <span class="le-bar__status" id="le-widget-status" role="status">Social Widget: not connected</span>
</header>
<div class="le-layout">
  <nav class="le-list" aria-labelledby="le-list-title">
    <h2 id="le-list-title">Open conversations</h2>
    <p class="le-empty" id="le-list-empty">No open conversations yet.</p>
    <ul id="le-conversations"></ul>
  </nav>
  <main class="le-conversation" aria-labelledby="le-conversation-title">
    <h1 id="le-conversation-title">Select a conversation</h1>
    <ol class="le-lines" id="le-lines" aria-label="Transcript" aria-live="polite"></ol>
    <form class="le-compose" id="le-compose" hidden>
      <label for="le-compose-text">Message</label>
      <textarea id="le-compose-text" rows="3"></textarea>
      <p class="le-error" id="le-compose-error" role="alert"></p>
      <div class="le-actions">
        <button type="submit" id="le-send">Send</button>
        <button type="button" id="le-close" class="le-quiet">Close conversation</button>
      </div>
    </form>
  </main>
  <aside class="le-widgets" aria-labelledby="le-widgets-title">
    <h2 id="le-widgets-title">Widgets</h2>
    <iframe id="le-widget" title="Social Widget" src="{widget}"></iframe>
  </aside>
</div>
</body>
</html>
"#,
        account = esc(&account),
        widget = esc(&widget),
    );
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-src {widget_origin}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'self'"
    );
    let mut res = axum::response::Html(html).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

fn script(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn workspace_js() -> Response {
    script(WORKSPACE_JS)
}

pub(crate) async fn sdk_js() -> Response {
    script(SDK_JS)
}

pub(crate) async fn workspace_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        WORKSPACE_CSS,
    )
        .into_response()
}

/// How LiveEngage names the consumer: the profile's first and last name, else "Visitor".
pub fn visitor_name(c: &Conversation) -> String {
    let personal = c
        .sdes
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s.get("type").and_then(Value::as_str) == Some("personal"))
        .and_then(|s| s.get("personal"));
    let part = |k: &str| {
        personal
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match (part("firstname"), part("lastname")) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(n), None) | (None, Some(n)) => n.to_owned(),
        (None, None) => "Visitor".to_owned(),
    }
}

/// A conversation as the agent page reads it: the stored fields, with the visitor's name.
pub(crate) fn for_page(c: &Conversation) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert("visitor_name".into(), json!(visitor_name(c)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(sdes: Value) -> Conversation {
        Conversation {
            id: "x".into(),
            account_id: "1".into(),
            consumer_id: "k".into(),
            ext_consumer_id: "e".into(),
            skill_id: None,
            open: true,
            sdes,
            lines: Vec::new(),
            agent_id: None,
            started: 0,
        }
    }

    #[test]
    fn the_visitor_is_named_by_the_profile_or_visitor() {
        let named = conversation(json!([
            {"type": "ctmrinfo", "info": {"socialId": "1"}},
            {"type": "personal", "personal": {"firstname": "Ann", "lastname": "Lee"}},
        ]));
        assert_eq!(visitor_name(&named), "Ann Lee");
        let first = conversation(json!([{"type": "personal", "personal": {"firstname": "Ann"}}]));
        assert_eq!(visitor_name(&first), "Ann");
        assert_eq!(visitor_name(&conversation(Value::Null)), "Visitor");
        assert_eq!(for_page(&named)["visitor_name"], "Ann Lee");
    }

    #[test]
    fn only_http_urls_have_an_origin() {
        assert_eq!(
            origin("http://127.0.0.1:8080/widget?x=1").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin("javascript:alert(1)"), None);
        assert_eq!(origin("/widget"), None);
    }
}
