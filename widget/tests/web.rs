//! DOM tests of the widget in headless Chromium (`cargo xtask test` runs them).

#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use widget::pages::SignInPage;

mod common;

use common::{mount, until};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn sign_in_form_is_labelled_and_shows_why_it_failed() {
    let root = mount(|| {
        widget::state::provide_auth();
        widget::nav::provide(shared::bundles::Bundle::Agent);
        view! { <SignInPage /> }
    });
    leptos::task::tick().await;
    let labels = root.text_content().unwrap();
    for label in ["Account number", "Email", "Password", "Sign in"] {
        assert!(labels.contains(label), "{labels}");
    }
    assert!(root.query_selector("[role=alert]").unwrap().is_none());

    let set = |name: &str, value: &str| {
        let input: web_sys::HtmlInputElement = root
            .query_selector(&format!("input[name={name}]"))
            .unwrap()
            .unwrap()
            .unchecked_into();
        input.set_value(value);
        input
            .dispatch_event(&web_sys::Event::new("input").unwrap())
            .unwrap();
    };
    set("account", "1000");
    set("email", "nobody@example.test");
    set("password", "wrong");
    let form: web_sys::HtmlFormElement = root
        .query_selector("form")
        .unwrap()
        .unwrap()
        .unchecked_into();
    form.request_submit().unwrap();

    // The test runner's server has no API, so the answer is an error the page must show.
    until(|| root.query_selector("[role=alert]").unwrap().is_some()).await;
    let alert = root.query_selector("[role=alert]").unwrap().unwrap();
    assert!(!alert.text_content().unwrap().trim().is_empty());
}

#[wasm_bindgen_test]
async fn character_counter_marks_an_over_limit_text_invalid() {
    use widget::components::CharacterCounter;
    let used = RwSignal::new(None::<String>);
    let root = mount(move || {
        view! {
            <CharacterCounter
                target=shared::Target::TwitterPublic
                on_use=Callback::new(move |t| used.set(Some(t)))
                on_done=Callback::new(|()| {})
            />
        }
    });
    leptos::task::tick().await;
    let area: web_sys::HtmlTextAreaElement = root
        .query_selector("textarea")
        .unwrap()
        .unwrap()
        .unchecked_into();
    area.set_value(&"a".repeat(281));
    area.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    until(|| root.text_content().unwrap().contains("over the limit by 1")).await;
    assert_eq!(area.get_attribute("aria-invalid").as_deref(), Some("true"));
    area.set_value("fine");
    area.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    until(|| root.text_content().unwrap().contains("4 / 280")).await;
    assert_eq!(area.get_attribute("aria-invalid").as_deref(), Some("false"));
}

#[wasm_bindgen_test]
async fn the_switch_shows_a_closed_private_response_as_unavailable_with_why() {
    use shared::replies::{PublicLine, ReplyFacts};
    use widget::components::{Compose, ComposeFacts};
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let now = js_sys::Date::now() as i64;
    let facts = |created_at_ms: i64, answered_privately: bool| ComposeFacts {
        channel: shared::Channel::Facebook,
        default_mode: shared::ReplyMode::Public,
        open: true,
        reply: ReplyFacts {
            last_public: Some(PublicLine {
                tag: shared::Tag::PublicComment,
                created_at_ms,
                answered_privately,
            }),
            wrote_privately: false,
        },
    };
    let shown = RwSignal::new(Some(facts(now - 8 * DAY_MS, false)));
    let root = mount(move || {
        widget::state::provide_draft();
        view! {
            <Compose
                conversation=Signal::derive(|| Some(1))
                facts=shown
                on_sent=Callback::new(|()| {})
            />
        }
    });
    leptos::task::tick().await;
    let button = |label: &str| -> web_sys::HtmlButtonElement {
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
    };
    let why = |b: &web_sys::HtmlButtonElement| -> String {
        let id = b.get_attribute("aria-describedby").expect("described");
        document()
            .get_element_by_id(&id)
            .expect("the reason is on the page")
            .text_content()
            .unwrap()
    };

    // An 8-day-old comment: Private Response is closed, and says so in words.
    let pr = button("Private Response");
    assert!(pr.disabled());
    let said = why(&pr);
    assert!(said.contains("more than 7 days old"), "{said}");
    assert!(root.text_content().unwrap().contains(&said));
    // Not in Messenger yet: Private is closed too; Public is open.
    assert!(button("Private").disabled());
    assert!(why(&button("Private")).contains("not written in Messenger"));
    assert!(!button("Public").disabled());
    assert_eq!(button("Public").get_attribute("aria-describedby"), None);

    // A fresh comment already answered privately: closed for that reason.
    shown.set(Some(facts(now - DAY_MS, true)));
    leptos::task::tick().await;
    let pr = button("Private Response");
    assert!(pr.disabled());
    assert!(
        why(&pr).contains("already has a private reply"),
        "{}",
        why(&pr)
    );

    // A fresh comment not yet answered: open.
    shown.set(Some(facts(now - DAY_MS, false)));
    leptos::task::tick().await;
    let pr = button("Private Response");
    assert!(!pr.disabled());
    assert_eq!(pr.get_attribute("aria-describedby"), None);
}

#[wasm_bindgen_test]
async fn shared_links_show_title_and_host_and_open_without_referrer() {
    use shared::inbound::SharedLink;
    use widget::components::SharedLinks;
    let links = vec![
        SharedLink {
            title: Some("Trail shoes".into()),
            url: "https://bank.example@shop.example/p?id=1".into(),
        },
        SharedLink {
            title: None,
            url: "javascript:alert(1)".into(),
        },
    ];
    let root = mount(move || view! { <SharedLinks links=links /> });
    leptos::task::tick().await;
    let html = root.inner_html();
    assert_eq!(
        html.matches("<a ").count(),
        1,
        "only the http(s) URL is a link: {html}"
    );
    let a = root.query_selector("a").unwrap().unwrap();
    assert_eq!(
        a.get_attribute("href").as_deref(),
        Some("https://bank.example@shop.example/p?id=1")
    );
    assert_eq!(
        a.get_attribute("rel").as_deref(),
        Some("noopener noreferrer nofollow")
    );
    assert_eq!(a.get_attribute("target").as_deref(), Some("_blank"));
    let text = a.text_content().unwrap();
    assert!(
        text.contains("Trail shoes") && text.contains("shop.example"),
        "{text}"
    );
    assert!(
        !text.contains("bank.example"),
        "the host shown is the one opened: {text}"
    );
    let all = root.text_content().unwrap();
    assert!(all.contains("javascript:alert(1)"), "shown as text: {all}");
}
