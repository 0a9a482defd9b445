//! The set-password page and SocialConnect Home's People section in headless Chromium.
//! The test runner's server has no API, so every request answers an error the page must
//! show. (A file of its own: the set-password page reads the test page's address.)

#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use shared::bundles::Bundle;
use shared::home::HomeOverview;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use widget::pages::{People, SetPasswordPage};

mod common;

use common::{mount, until};

wasm_bindgen_test_configure!(run_in_browser);

fn one(root: &web_sys::HtmlElement, css: &str) -> web_sys::HtmlElement {
    root.query_selector(css)
        .unwrap()
        .unwrap_or_else(|| panic!("no {css}"))
        .unchecked_into()
}

fn set_password_page() -> web_sys::HtmlElement {
    mount(|| {
        widget::state::provide_auth();
        widget::nav::provide(Bundle::Admin);
        view! { <SetPasswordPage /> }
    })
}

#[wasm_bindgen_test]
async fn set_password_page_names_its_field_and_shows_why_it_failed() {
    // Without a token the link is incomplete, and there is nothing to fill in.
    let root = set_password_page();
    leptos::task::tick().await;
    let text = root.text_content().unwrap();
    assert!(text.contains("incomplete"), "{text}");
    assert!(root.query_selector("input").unwrap().is_none());

    let history = window().history().unwrap();
    let before = window().location().href().unwrap();
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("?token=abc"))
        .unwrap();
    let root = set_password_page();
    leptos::task::tick().await;
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&before))
        .unwrap();

    let text = root.text_content().unwrap();
    assert!(text.contains(shared::api::PASSWORD_RULES), "{text}");
    let input: web_sys::HtmlInputElement = one(&root, "input[type=password]").unchecked_into();
    let label = one(&root, &format!("label[for={}]", input.id()));
    assert_eq!(label.text_content().unwrap(), "New password");
    assert_eq!(
        input.get_attribute("autocomplete").as_deref(),
        Some("new-password")
    );
    assert_eq!(one(&root, "button").text_content().unwrap(), "Set password");
    assert!(root.query_selector("[role=alert]").unwrap().is_none());

    input.set_value("a good long passphrase");
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    let form: web_sys::HtmlFormElement = one(&root, "form").unchecked_into();
    form.request_submit().unwrap();
    until(|| root.query_selector("[role=alert]").unwrap().is_some()).await;
    assert!(
        !one(&root, "[role=alert]")
            .text_content()
            .unwrap()
            .trim()
            .is_empty()
    );
    assert_eq!(
        window().location().pathname().unwrap(),
        web_sys::Url::new(&before).unwrap().pathname(),
        "left the page after a failure"
    );
}

/// A row as the server sends it (built from JSON, so fields the server adds later, such
/// as `all_skills`, need no change here).
fn person(id: i64, name: &str, role: &str, status: &str, skills: &[i64]) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "name": name,
        "email": format!("{}@demo.example", name.to_lowercase().replace(' ', ".")),
        "role": role,
        "skills": skills,
        "all_skills": false,
        "status": status,
        "last_sign_in": (status == "active").then_some("2026-12-01 09:30"),
    })
}

#[wasm_bindgen_test]
async fn people_table_offers_each_person_the_right_controls() {
    let mut all_skills = person(4, "Kim Lee", "agent", "active", &[8]);
    all_skills["all_skills"] = true.into();
    let overview: HomeOverview = serde_json::from_value(serde_json::json!({
        "account_number": "1000",
        "account_name": "Acme",
        "accounts": [],
        "skills": [{"id": 7, "name": "social"}, {"id": 8, "name": "vip"}],
        "people": [
            person(1, "Dana Admin", "admin", "active", &[]),
            person(2, "Alex Agent", "agent", "disabled", &[7]),
            person(3, "Sam Ortiz", "agent", "invited", &[]),
            all_skills,
        ],
        "settings": {"send_image": true},
        "audit": [],
        "networks": {"facebook": true, "twitter": true},
    }))
    .unwrap();
    let refresh = RwSignal::new(0u64);
    let root = mount(move || {
        let overview = RwSignal::new_local(Some(Ok(overview))).read_only();
        view! { <People overview refresh /> }
    });
    leptos::task::tick().await;

    let text = root.text_content().unwrap();
    for words in [
        "People",
        "Active",
        "Deactivated",
        "Invited",
        "2026-12-01 09:30 UTC",
        "Never",
    ] {
        assert!(text.contains(words), "{words:?} missing from {text}");
    }
    let role: web_sys::HtmlSelectElement =
        one(&root, "select[aria-label='Role for Dana Admin']").unchecked_into();
    assert_eq!(role.value(), "admin");
    let role: web_sys::HtmlSelectElement =
        one(&root, "select[aria-label='Role for Alex Agent']").unchecked_into();
    assert_eq!(role.value(), "agent");

    let buttons: Vec<String> = {
        let list = root.query_selector_all("tbody button").unwrap();
        (0..list.length())
            .map(|i| list.item(i).unwrap().text_content().unwrap())
            .collect()
    };
    assert_eq!(
        buttons,
        ["Deactivate", "Reactivate", "Deactivate", "Deactivate"]
    );

    // An agent's skills are checkboxes in their row, named by a group, beside an
    // explicit All skills choice (here not made: the boxes are live).
    let held: web_sys::HtmlInputElement = one(
        &root,
        "[aria-label='Skills of Alex Agent'] input[id$='-skill-7']",
    )
    .unchecked_into();
    assert!(held.checked());
    assert!(!held.disabled());
    let all: web_sys::HtmlInputElement =
        one(&root, "input[aria-label='All skills for Alex Agent']").unchecked_into();
    assert!(!all.checked());
    // No skill and not all of them: the row says what that means.
    assert!(
        text.contains("No skills: sees no conversations until given some."),
        "{text}"
    );
    assert!(!text.contains("answers every skill"), "{text}");
    // All skills chosen: ticked, and the single skills wait, unticked and disabled.
    let all: web_sys::HtmlInputElement =
        one(&root, "input[aria-label='All skills for Kim Lee']").unchecked_into();
    assert!(all.checked());
    let vip: web_sys::HtmlInputElement = one(
        &root,
        "[aria-label='Skills of Kim Lee'] input[id$='-skill-8']",
    )
    .unchecked_into();
    assert!(vip.disabled() && !vip.checked());

    // The invite form's fields carry visible labels.
    for (id, label) in [
        ("sc-people-email", "Email"),
        ("sc-people-name", "Name"),
        ("sc-people-role", "Role"),
    ] {
        assert_eq!(
            one(&root, &format!("label[for={id}]"))
                .text_content()
                .unwrap(),
            label
        );
    }

    // A refusal shows in the section and asks for the overview again.
    one(&root, "tbody button").click();
    until(|| root.query_selector("[role=alert]").unwrap().is_some()).await;
    assert!(refresh.get_untracked() > 0);
}
