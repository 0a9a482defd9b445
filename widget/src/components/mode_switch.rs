//! The Public/Private switch: the reply modes the network has (`Public`, `Private`, and on
//! Facebook `Private Response`), each closed one disabled with why in words beside it. The
//! Reply box holds it above its text; inside LiveEngage it stands on its own and sets where
//! the replies written in LiveEngage's compose box go.

use super::compose::{ComposeFacts, mode_refusal, use_clock};
use leptos::prelude::*;
use shared::ReplyMode;
use shared::replies::Unavailable;

/// The id of the text saying why `mode` is unavailable.
fn why_id(mode: ReplyMode) -> &'static str {
    match mode {
        ReplyMode::Public => "sc-mode-why-public",
        ReplyMode::Private => "sc-mode-why-private",
        ReplyMode::PrivateResponse => "sc-mode-why-private-response",
    }
}

/// The switch's context line: where the consumer last wrote.
pub fn last_wrote(facts: &ComposeFacts) -> &'static str {
    match facts.default_mode {
        ReplyMode::Public => "The consumer last wrote in public.",
        _ => "The consumer last wrote in private.",
    }
}

#[component]
pub fn ModeSwitch(
    /// Facts about the open conversation, once its transcript has loaded.
    #[prop(into)]
    facts: Signal<Option<ComposeFacts>>,
    /// The mode shown pressed; `None` for none (the Reply box is writing a note).
    #[prop(into)]
    pressed: Signal<Option<ReplyMode>>,
    /// Called with the mode the agent picks.
    on_pick: Callback<ReplyMode>,
    /// More choices in the same group (the Reply box's `Note`).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    let clock = use_clock();
    let refusal = move |m: ReplyMode| facts.get().and_then(|f| mode_refusal(&f, m, clock.get()));
    let modes = move || {
        let channel = facts.get().map(|f| f.channel);
        ReplyMode::ALL
            .into_iter()
            .filter(move |m| channel.is_none_or(|c| m.available_on(c)))
            .map(|m| {
                let closed = move || refusal(m).is_some();
                view! {
                    <button
                        type="button"
                        class="sc-tab"
                        aria-pressed=move || (pressed.get() == Some(m)).to_string()
                        disabled=closed
                        aria-describedby=move || closed().then_some(why_id(m))
                        on:click=move |_| on_pick.run(m)
                    >
                        {m.label()}
                    </button>
                }
            })
            .collect_view()
    };
    // Why each closed mode is closed, in words, next to the switch (a mode the network
    // does not have is not shown at all, so it needs no words).
    let reasons = move || {
        ReplyMode::ALL
            .into_iter()
            .filter_map(|m| {
                let why = refusal(m).filter(|w| *w != Unavailable::NotOnNetwork)?;
                Some(view! {
                    <p id=why_id(m) class="sc-compose__why">
                        {format!("{} unavailable: {why}", m.label())}
                    </p>
                })
            })
            .collect_view()
    };
    view! {
        <div class="sc-compose__modes" role="group" aria-label="Reply as">
            {modes}
            {children.map(|c| c())}
        </div>
        {reasons}
    }
}
