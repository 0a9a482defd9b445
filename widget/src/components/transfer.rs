//! Transfer: hands the open conversation to another skill, a named person of the brand, or
//! both (`GET /api/team` says who and what there is).

use crate::api;
use leptos::prelude::*;
use shared::api::{Team, Transfer};

/// The small form the conversation's `Transfer` button opens. It takes the focus when it
/// opens; `Cancel` closes it and gives the focus back to that button.
#[component]
pub fn TransferForm(
    /// The conversation to transfer.
    conversation: i64,
    /// Whether the form is open; set false by `Cancel` (and by the page after a transfer).
    open: RwSignal<bool>,
    /// A change to the conversation is on its way.
    #[prop(into)]
    busy: Signal<bool>,
    /// Called with the conversation and where it goes.
    on_transfer: Callback<(i64, Transfer)>,
) -> impl IntoView {
    // Asked once per opening: who and what there is to transfer to.
    let team = RwSignal::new(None::<Team>);
    let failed = RwSignal::new(None::<String>);
    leptos::task::spawn_local(async move {
        match api::get::<Team>("/api/team").await {
            Ok(t) => team.set(Some(t)),
            Err(e) => failed.set(Some(e.message)),
        }
    });
    let skill = RwSignal::new(String::new());
    let person = RwSignal::new(String::new());
    let missing = RwSignal::new(false);
    crate::pages::focus_later("sc-transfer-skill".into());

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let to = Transfer {
            skill_id: skill.get_untracked().parse().ok(),
            agent_id: person.get_untracked().parse().ok(),
        };
        missing.set(to.skill_id.is_none() && to.agent_id.is_none());
        if !missing.get_untracked() {
            on_transfer.run((conversation, to));
        }
    };
    let options = move |people: bool| {
        team.with(|t| {
            let t = t.as_ref()?;
            Some(if people {
                t.people
                    .iter()
                    .map(|p| (p.id, format!("{} ({})", p.name, p.role)))
                    .collect::<Vec<_>>()
            } else {
                t.skills.clone()
            })
        })
        .unwrap_or_default()
        .into_iter()
        .map(|(id, name)| view! { <option value=id.to_string()>{name}</option> })
        .collect_view()
    };

    view! {
        <form class="sc-transfer" on:submit=on_submit>
            <div class="sc-form__field">
                <label for="sc-transfer-skill">"To skill"</label>
                <select id="sc-transfer-skill" on:change=move |ev| skill.set(event_target_value(&ev))>
                    <option value="">"Keep its skill"</option>
                    {move || options(false)}
                </select>
            </div>
            <div class="sc-form__field">
                <label for="sc-transfer-person">"To person"</label>
                <select
                    id="sc-transfer-person"
                    on:change=move |ev| person.set(event_target_value(&ev))
                >
                    <option value="">"Anyone with the skill"</option>
                    {move || options(true)}
                </select>
            </div>
            {move || {
                failed
                    .get()
                    .or_else(|| missing.get().then(|| "Choose a skill, a person, or both.".into()))
                    .map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })
            }}
            <button class="sc-button" type="submit" disabled=busy>
                "Transfer"
            </button>
            <button
                class="sc-button sc-button--quiet"
                type="button"
                on:click=move |_| {
                    open.set(false);
                    crate::pages::focus_later(format!("sc-transfer-open-{conversation}"));
                }
            >
                "Cancel"
            </button>
        </form>
    }
}
