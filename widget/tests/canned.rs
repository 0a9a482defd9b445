//! DOM tests of the compose box's agent tools in headless Chromium: `/shortcut` canned
//! responses by keyboard, and the Note switch. The page's `fetch` answers `/api/canned` as
//! the server would (a test binary of its own, so no other test sees the stand-in).

#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use widget::components::{Compose, ComposeFacts};

mod common;

use common::{mount, until};

wasm_bindgen_test_configure!(run_in_browser);

/// The brand's canned responses, as `GET /api/canned` gives them (by shortcut).
const STAND_IN: &str = r#"
window.fetch = async (req) => {
  const url = typeof req === 'string' ? req : req.url;
  const body = url.includes('/api/canned')
    ? [{"id": 3, "shortcut": "bye", "text": "Bye"},
       {"id": 2, "shortcut": "gratitude", "text": "Thanks, {{consumer.name}}!"},
       {"id": 1, "shortcut": "greet", "text": "Hi {{consumer.first_name}}, {{agent.name}} here."}]
    : {"code": "not_found", "message": "not here"};
  return new Response(JSON.stringify(body), {
    status: url.includes('/api/canned') ? 200 : 404,
    headers: {"Content-Type": "application/json"},
  });
};
"#;

fn key(el: &web_sys::Element, key: &str) {
    el.set_attribute("data-key", key).unwrap();
    js_sys::eval(
        "const el = document.querySelector('[data-key]'); \
         const k = el.getAttribute('data-key'); el.removeAttribute('data-key'); \
         el.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true, cancelable: true}));",
    )
    .unwrap();
}

fn type_in(area: &web_sys::HtmlTextAreaElement, text: &str) {
    area.set_value(text);
    area.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
}

fn mount_compose() -> web_sys::HtmlElement {
    mount(|| {
        widget::state::provide_draft();
        let facts = ComposeFacts {
            channel: shared::Channel::Facebook,
            default_mode: shared::ReplyMode::Private,
            open: true,
            reply: shared::replies::ReplyFacts {
                last_public: None,
                wrote_privately: true,
            },
        };
        let values = shared::canned::Values {
            consumer_name: Some("Ann Lee".into()),
            consumer_handle: None,
            agent_name: "Alex Agent".into(),
        };
        view! {
            <Compose
                conversation=Signal::derive(|| Some(1))
                facts=Signal::derive(move || Some(facts))
                on_sent=Callback::new(|()| {})
                values=Signal::derive(move || Some(values.clone()))
            />
        }
    })
}

#[wasm_bindgen_test]
async fn slash_lists_the_matching_answers_and_enter_puts_one_in_filled() {
    js_sys::eval(STAND_IN).unwrap();
    let root = mount_compose();
    leptos::task::tick().await;
    let area: web_sys::HtmlTextAreaElement = root
        .query_selector("textarea")
        .unwrap()
        .unwrap()
        .unchecked_into();
    let list = root.query_selector("[role=listbox]").unwrap().unwrap();
    assert!(list.has_attribute("hidden"), "closed until a / is typed");
    assert_eq!(
        list.get_attribute("aria-label").as_deref(),
        Some("Canned responses")
    );
    assert_eq!(
        area.get_attribute("aria-controls").as_deref(),
        Some(list.id().as_str())
    );

    type_in(&area, "Sorry for the wait! /gr");
    until(|| !list.has_attribute("hidden")).await;
    let options = || {
        let all = list.query_selector_all("[role=option]").unwrap();
        (0..all.length())
            .map(|i| all.item(i).unwrap().unchecked_into::<web_sys::Element>())
            .collect::<Vec<_>>()
    };
    // Those starting with `gr`, by shortcut, previewed filled in; the first highlighted.
    let shown: Vec<String> = options()
        .iter()
        .map(|o| o.text_content().unwrap())
        .collect();
    assert_eq!(
        shown,
        [
            "/gratitude Thanks, Ann Lee!",
            "/greet Hi Ann, Alex Agent here."
        ]
    );
    let active = || area.get_attribute("aria-activedescendant");
    assert_eq!(active(), Some(options()[0].id()));
    assert_eq!(
        options()[0].get_attribute("aria-selected").as_deref(),
        Some("true")
    );
    let status = root.query_selector("#sc-canned-status").unwrap().unwrap();
    assert!(
        status
            .text_content()
            .unwrap()
            .contains("2 canned responses"),
        "{:?}",
        status.text_content()
    );

    // Down, then Enter: the second replaces the `/gr`, filled in; the list closes.
    key(&area, "ArrowDown");
    until(|| active() == Some(options()[1].id())).await;
    key(&area, "Enter");
    until(|| area.value() == "Sorry for the wait! Hi Ann, Alex Agent here.").await;
    until(|| list.has_attribute("hidden")).await;
    assert_eq!(active(), None);

    // Escape closes the list and leaves what was typed.
    type_in(&area, "Hello /b");
    until(|| !list.has_attribute("hidden")).await;
    key(&area, "Escape");
    until(|| list.has_attribute("hidden")).await;
    assert_eq!(area.value(), "Hello /b");
    // A `/` inside a word (a URL) opens nothing.
    type_in(&area, "see https://example.com/gr");
    leptos::task::tick().await;
    assert!(list.has_attribute("hidden"));
}

#[wasm_bindgen_test]
async fn note_switches_the_box_to_a_private_note() {
    let root = mount_compose();
    leptos::task::tick().await;
    let button = |label: &str| -> web_sys::HtmlButtonElement {
        let all = root.query_selector_all("button").unwrap();
        (0..all.length())
            .map(|i| {
                all.item(i)
                    .unwrap()
                    .unchecked_into::<web_sys::HtmlButtonElement>()
            })
            .find(|b| b.text_content().as_deref() == Some(label))
            .unwrap_or_else(|| panic!("no {label} button"))
    };
    let label = || {
        root.query_selector("label[for=sc-reply]")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap()
    };
    assert_eq!(label(), "Reply");
    assert_eq!(
        button("Private").get_attribute("aria-pressed").as_deref(),
        Some("true")
    );
    button("Note").click();
    until(|| label() == "Note").await;
    assert_eq!(
        button("Note").get_attribute("aria-pressed").as_deref(),
        Some("true")
    );
    assert_eq!(
        button("Private").get_attribute("aria-pressed").as_deref(),
        Some("false")
    );
    // Send says what it does; the character counter is for replies only.
    let submit = root.query_selector("button[type=submit]").unwrap().unwrap();
    assert_eq!(submit.text_content().as_deref(), Some("Add note"));
    assert!(
        root.text_content()
            .unwrap()
            .contains("only your team sees it; it is never sent")
    );
    assert_eq!(
        root.query_selector("#sc-reply-count")
            .unwrap()
            .unwrap()
            .text_content()
            .as_deref(),
        Some("")
    );
    // Back to replying.
    button("Private").click();
    until(|| label() == "Reply").await;
    assert_eq!(submit.text_content().as_deref(), Some("Send"));
}
