//! DOM tests of the queue's facts and the compose box's guards in headless Chromium: the
//! queue item's marks and name, times in the browser's zone, Send held for a conversation
//! another person has until `Answer anyway`, the inline question before a reply goes the
//! other way from the consumer, and "… is typing…" for the open conversation only.

#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use shared::api::{AgentRef, Author, LinePreview, QueueItem, Typing};
use shared::replies::{PublicLine, ReplyFacts};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use widget::components::{Compose, ComposeFacts, QueueList, Time};

mod common;

use common::{mount, until};

wasm_bindgen_test_configure!(run_in_browser);

fn now() -> i64 {
    js_sys::Date::now() as i64
}

/// RFC 3339 (UTC) of `ms`, as the server writes it.
fn rfc3339(ms: i64) -> String {
    js_sys::Date::new(&(ms as f64).into())
        .to_iso_string()
        .as_string()
        .unwrap()
}

fn button(root: &web_sys::HtmlElement, label: &str) -> Option<web_sys::HtmlButtonElement> {
    let buttons = root.query_selector_all("button").unwrap();
    (0..buttons.length())
        .map(|i| {
            buttons
                .item(i)
                .unwrap()
                .unchecked_into::<web_sys::HtmlButtonElement>()
        })
        .find(|b| b.text_content().as_deref() == Some(label))
}

fn text(root: &web_sys::HtmlElement) -> String {
    root.text_content().unwrap()
}

#[wasm_bindgen_test]
async fn a_queue_item_names_its_conversation_and_says_what_needs_doing() {
    let at = now() - 3 * 60_000;
    let item = QueueItem {
        id: 7,
        channel: shared::Channel::Facebook,
        consumer_name: Some("Ann Lee".into()),
        consumer_handle: None,
        last: Some(LinePreview {
            text: "<b>hi</b>".into(),
            tag: shared::Tag::PublicComment,
            at: rfc3339(at),
            author: Author::Agent,
        }),
        new: true,
        assigned_to: None,
        closed: false,
        unread: 2,
        reply_failed: true,
        waiting_since: Some(rfc3339(at - 9 * 60_000)),
    };
    let selected = RwSignal::new(None::<i64>);
    let root = mount(move || view! { <QueueList items=vec![item] selected empty="none" /> });
    leptos::task::tick().await;
    let link = root.query_selector("a").unwrap().unwrap();
    let name = link.get_attribute("aria-label").unwrap();
    // Relative for today, unless today began less than three minutes ago.
    assert!(
        name == "Ann Lee, Facebook, Public/Comment, 3 min ago"
            || name.starts_with("Ann Lee, Facebook, Public/Comment, 20"),
        "{name}"
    );
    let shown = text(&root);
    for said in [
        "Agent wrote last",
        "2 unread",
        "Reply failed",
        "Waiting 12 min",
        "<b>hi</b>",
    ] {
        assert!(shown.contains(said), "{said}: {shown}");
    }
    assert!(
        root.query_selector("b").unwrap().is_none(),
        "text stays text"
    );
    // The open conversation is being read: no stale count on it.
    selected.set(Some(7));
    leptos::task::tick().await;
    assert!(!text(&root).contains("unread"));
    let time = root.query_selector("time").unwrap().unwrap();
    assert_eq!(time.get_attribute("datetime"), Some(rfc3339(at)));
}

#[wasm_bindgen_test]
async fn times_read_in_the_browsers_zone_with_the_exact_time_on_hover() {
    let at = now() - 2_000;
    let older = "2020-02-29T12:34:56.000Z";
    let root = mount(move || {
        view! {
            <Time at=rfc3339(at) />
            <Time at=older.to_owned() />
            <Time at="not a time".to_owned() />
        }
    });
    leptos::task::tick().await;
    let times = root.query_selector_all("time").unwrap();
    let nth = |i| times.item(i).unwrap().unchecked_into::<web_sys::Element>();
    assert_eq!(nth(0).text_content().unwrap(), "just now");
    let offset = -(js_sys::Date::new(&older.into()).get_timezone_offset() as i32);
    let ms = shared::time::parse_rfc3339(older).unwrap();
    assert_eq!(
        nth(1).text_content().unwrap(),
        shared::time::shown(ms, now(), offset)
    );
    assert_eq!(
        nth(1).get_attribute("title"),
        Some(shared::time::exact(ms, offset))
    );
    assert_eq!(nth(2).text_content().unwrap(), "not a time");
}

/// A compose box on conversation 1 (X; the consumer last wrote in public), held by
/// `held_by`, told of typing by `typing`.
fn compose(
    held_by: RwSignal<Option<String>>,
    typing: RwSignal<Option<Typing>>,
) -> web_sys::HtmlElement {
    let facts = ComposeFacts {
        channel: shared::Channel::Twitter,
        default_mode: shared::ReplyMode::Public,
        open: true,
        reply: ReplyFacts {
            last_public: Some(PublicLine {
                tag: shared::Tag::PublicThread,
                created_at_ms: now(),
                answered_privately: false,
            }),
            wrote_privately: true,
        },
    };
    mount(move || {
        widget::state::provide_draft();
        view! {
            <Compose
                conversation=Signal::derive(|| Some(1))
                facts=Signal::derive(move || Some(facts))
                on_sent=Callback::new(|()| {})
                held_by
                typing
            />
        }
    })
}

fn write(root: &web_sys::HtmlElement, s: &str) {
    let area: web_sys::HtmlTextAreaElement = root
        .query_selector("textarea")
        .unwrap()
        .unwrap()
        .unchecked_into();
    area.set_value(s);
    area.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
}

fn submit(root: &web_sys::HtmlElement) {
    let form: web_sys::HtmlFormElement = root
        .query_selector("form")
        .unwrap()
        .unwrap()
        .unchecked_into();
    form.request_submit().unwrap();
}

#[wasm_bindgen_test]
async fn send_waits_for_answer_anyway_and_a_reply_the_other_way_is_asked_about_once() {
    let held_by = RwSignal::new(Some("Alex Agent".to_owned()));
    let typing = RwSignal::new(None);
    let root = compose(held_by, typing);
    leptos::task::tick().await;
    assert!(text(&root).contains("Alex Agent has this conversation."));
    let send = button(&root, "Send").unwrap();
    assert!(send.disabled(), "held by another: Send waits");
    button(&root, "Answer anyway").unwrap().click();
    leptos::task::tick().await;
    assert!(!send.disabled());
    assert!(button(&root, "Answer anyway").is_none());

    // Private to a consumer who wrote in public: a question, and nothing sent.
    button(&root, "Private").unwrap().click();
    write(&root, "by DM");
    submit(&root);
    until(|| text(&root).contains("The consumer last wrote in public. Send this reply privately?"))
        .await;
    let choice = button(&root, "Send as Private").unwrap();
    assert!(button(&root, "Send as Public").is_some());
    // The first choice takes the focus.
    until(|| {
        document()
            .active_element()
            .and_then(|e| e.text_content())
            .as_deref()
            == Some("Send as Private")
    })
    .await;
    assert!(
        !text(&root).contains("message not sent"),
        "sent before the answer"
    );
    // The answer sends (the test page has no API: the failure shows it was sent).
    choice.click();
    until(|| text(&root).contains("message not sent")).await;
    assert!(button(&root, "Send as Private").is_none(), "asked once");

    // The consumer's own way is not asked about.
    button(&root, "Public").unwrap().click();
    leptos::task::tick().await;
    submit(&root);
    leptos::task::tick().await;
    assert!(button(&root, "Send as Private").is_none());

    // Another holder: the step is asked for again.
    held_by.set(Some("Bea Agent".into()));
    until(|| button(&root, "Answer anyway").is_some()).await;
    assert!(button(&root, "Send").unwrap().disabled());
}

#[wasm_bindgen_test]
async fn typing_shows_for_the_open_conversation_only() {
    let typing = RwSignal::new(None);
    let root = compose(RwSignal::new(None), typing);
    leptos::task::tick().await;
    assert!(
        button(&root, "Answer anyway").is_none(),
        "nobody else holds it"
    );
    let agent = AgentRef {
        id: 5,
        name: "Alex Agent".into(),
    };
    typing.set(Some(Typing {
        conversation_id: 2,
        agent: agent.clone(),
    }));
    leptos::task::tick().await;
    assert!(!text(&root).contains("is typing"), "another conversation");
    typing.set(Some(Typing {
        conversation_id: 1,
        agent,
    }));
    until(|| text(&root).contains("Alex Agent is typing…")).await;
    let note = root
        .query_selector(".sc-compose__typing[role=status]")
        .unwrap()
        .unwrap();
    assert!(note.text_content().unwrap().contains("is typing"));
}
