//! DOM tests of the Social Widget page's own reply: stand-alone, the Reply box with the
//! switch, the live count for the chosen target and the last reply's status; inside
//! LiveEngage, the switch alone, each pick recorded with the server.

#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use shared::api::Transcript;
use shared::replies::reply_target;
use shared::{Channel, ReplyMode};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use widget::components::WidgetReply;
use widget::host::Host;

mod common;

use common::{mount, until};

wasm_bindgen_test_configure!(run_in_browser);

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A Facebook conversation: the consumer's comment of yesterday and, when `reply` is
/// given (status and error), the agent's public answer to it.
fn transcript(reply: Option<(&str, Option<&str>)>) -> Transcript {
    let now = js_sys::Date::now() as i64;
    let mut lines = vec![serde_json::json!({
        "id": 1, "tag": "Public/Comment", "direction": "in", "author": "consumer",
        "text": "Is the tent waterproof?", "media": [], "status": "received", "error": null,
        "created_at": "2025-01-01T10:00:00Z", "edited": false, "removed": false,
    })];
    if let Some((status, error)) = reply {
        lines.push(serde_json::json!({
            "id": 2, "tag": "Public/Comment", "direction": "out", "author": "agent",
            "text": "Yes, to 3000 mm", "media": [], "status": status, "error": error,
            "created_at": "2025-01-01T10:05:00Z", "edited": false, "removed": false,
        }));
    }
    serde_json::from_value(serde_json::json!({
        "conversation": {"id": 7, "channel": "facebook", "status": "open", "skill": null,
                         "assigned_to": null},
        "consumer": {"network_id": "psid-1", "handle": null, "name": "Ann Lee"},
        "brand": {"channel": "facebook", "name": "AcmeOutdoor", "network_id": "42",
                  "send_image": true},
        "lines": lines,
        "reply_facts": {
            "last_public": {"tag": "Public/Comment", "created_at_ms": now - DAY_MS,
                            "answered_privately": false},
            "wrote_privately": false,
        },
    }))
    .expect("a transcript")
}

fn text(root: &web_sys::HtmlElement) -> String {
    root.text_content().unwrap_or_default()
}

fn mode_button(root: &web_sys::HtmlElement, label: &str) -> web_sys::HtmlButtonElement {
    let buttons = root.query_selector_all("button.sc-tab").unwrap();
    (0..buttons.length())
        .map(|i| {
            buttons
                .item(i)
                .unwrap()
                .unchecked_into::<web_sys::HtmlButtonElement>()
        })
        .find(|b| b.text_content().as_deref() == Some(label))
        .unwrap_or_else(|| panic!("no {label} button"))
}

fn pressed(b: &web_sys::HtmlButtonElement) -> bool {
    b.get_attribute("aria-pressed").as_deref() == Some("true")
}

#[wasm_bindgen_test]
async fn stand_alone_the_page_has_a_reply_box_counting_for_the_chosen_target() {
    let shown = RwSignal::new(Some(transcript(Some(("sending", None)))));
    let draft = RwSignal::new(None);
    let root = mount(move || {
        widget::state::provide_auth();
        let d = widget::state::provide_draft();
        draft.set(Some(d));
        view! {
            <WidgetReply transcript=shown host=Host::Standalone(d) on_sent=Callback::new(|()| {}) />
        }
    });
    leptos::task::tick().await;
    until(|| document().get_element_by_id("sc-reply").is_some()).await;
    let draft = draft.get_untracked().unwrap();

    // The switch, where the consumer last wrote, and which modes are open.
    assert!(text(&root).contains("The consumer last wrote in public."));
    assert!(pressed(&mode_button(&root, "Public")));
    assert!(mode_button(&root, "Private").disabled());
    assert!(!mode_button(&root, "Private Response").disabled());

    // The live count is for where the reply goes now, and follows the switch.
    let area: web_sys::HtmlTextAreaElement = document()
        .get_element_by_id("sc-reply")
        .unwrap()
        .unchecked_into();
    area.set_value("Thanks!");
    area.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    let public = reply_target(Channel::Facebook, ReplyMode::Public);
    let expected = format!("{}: 7 / {}", public.label(), public.limit());
    until(|| text(&root).contains(&expected)).await;
    mode_button(&root, "Private Response").click();
    let private = reply_target(Channel::Facebook, ReplyMode::PrivateResponse);
    let expected = format!("{}: 7 / {}", private.label(), private.limit());
    until(|| text(&root).contains(&expected)).await;
    assert!(pressed(&mode_button(&root, "Private Response")));
    assert_eq!(
        draft.chosen.get_untracked(),
        Some(ReplyMode::PrivateResponse)
    );

    // A tool's write lands in this Reply box ("Added to the Reply box." is true here).
    Host::Standalone(draft).write("https://m.me/AcmeOutdoor");
    until(|| area.value() == "Thanks! https://m.me/AcmeOutdoor").await;

    // What became of the last reply, as its line's status moves.
    until(|| text(&root).contains("Last reply: Sending publicly…")).await;
    shown.set(Some(transcript(Some(("sent", None)))));
    until(|| text(&root).contains("Last reply: Sent publicly")).await;
    shown.set(Some(transcript(Some((
        "failed",
        Some("Facebook refused the comment"),
    )))));
    until(|| {
        text(&root)
            .contains("Last reply: Reply failed — message not sent: Facebook refused the comment")
    })
    .await;
    let status = root.query_selector(".sc-sent__status").unwrap().unwrap();
    assert!(status.class_list().contains("sc-sent__status--failed"));
    assert_eq!(status.get_attribute("role").as_deref(), Some("status"));
    // No reply yet: nothing to report.
    shown.set(Some(transcript(None)));
    until(|| !text(&root).contains("Last reply")).await;
}

/// Answers the page's requests as the server's `host-mode` would (or with a failure while
/// `window.__fail` is set), recording each as `[method, path, body]`.
const FAKE_FETCH: &str = r#"
    window.__realFetch = window.__realFetch || window.fetch;
    window.__fetched = [];
    window.__fail = false;
    window.fetch = async (input, init) => {
        const req = new Request(input, init);
        const body = await req.clone().text();
        window.__fetched.push([req.method, new URL(req.url).pathname, body]);
        if (window.__fail) { return new Response('down', { status: 503 }); }
        const mode = JSON.parse(body).mode;
        return new Response(JSON.stringify({ conversation_id: 7, mode, chosen: true }),
            { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
"#;

fn fetched() -> String {
    js_sys::JSON::stringify(&js_sys::eval("window.__fetched").unwrap())
        .unwrap()
        .as_string()
        .unwrap()
}

#[wasm_bindgen_test]
async fn inside_liveengage_the_switch_records_the_mode_for_the_hosts_replies() {
    js_sys::eval(FAKE_FETCH).unwrap();
    let shown = RwSignal::new(Some(transcript(None)));
    let draft = RwSignal::new(None);
    let root = mount(move || {
        widget::state::provide_auth();
        draft.set(Some(widget::state::provide_draft()));
        view! {
            <WidgetReply transcript=shown host=Host::LiveEngage on_sent=Callback::new(|()| {}) />
        }
    });
    until(|| root.query_selector("button.sc-tab").unwrap().is_some()).await;
    let draft = draft.get_untracked().unwrap();

    // LiveEngage's compose box writes the replies: no second one here, the switch only.
    assert!(root.query_selector("textarea").unwrap().is_none());
    assert!(text(&root).contains("The consumer last wrote in public."));
    assert!(text(&root).contains("Replies written in LiveEngage go out in public"));
    assert!(pressed(&mode_button(&root, "Public")));
    assert_eq!(
        fetched(),
        "[]",
        "nothing is recorded before the agent picks"
    );

    mode_button(&root, "Private Response").click();
    until(|| fetched() != "[]").await;
    assert_eq!(
        fetched(),
        r#"[["PUT","/api/conversations/7/host-mode","{\"mode\":\"private_response\"}"]]"#
    );
    until(|| {
        text(&root)
            .contains("Replies written in LiveEngage go out privately, as a Private Response")
    })
    .await;
    assert!(pressed(&mode_button(&root, "Private Response")));
    assert_eq!(
        draft.chosen.get_untracked(),
        Some(ReplyMode::PrivateResponse)
    );

    // A pick the server did not keep is not shown as kept.
    js_sys::eval("window.__fail = true").unwrap();
    mode_button(&root, "Public").click();
    until(|| text(&root).contains("Public not set:")).await;
    assert!(pressed(&mode_button(&root, "Private Response")));
    let alert = root.query_selector("[role=alert]").unwrap().unwrap();
    assert!(alert.text_content().unwrap().contains("Public not set:"));
    js_sys::eval("window.fetch = window.__realFetch").unwrap();
}
