//! The compose box: the Public/Private switch (`super::mode_switch`: which modes the
//! network allows now and why not) with where the consumer last wrote, the reply with its
//! live count for where it goes (`super::count`), and Send. It lives outside the
//! transcript so live updates never wipe what the agent is typing. `Note` switches it to a
//! private note for the brand's people (`super::notes`), never sent; and `/shortcut`
//! offers the brand's canned responses (`super::canned`).

use crate::api;
use crate::state::use_draft;
use gloo_net::http::Method;
use leptos::prelude::*;
use shared::api::{LineStatus, ReplyRequest};
use shared::notes::NewNote;
use shared::replies::{ReplyFacts, Unavailable, reply_target};
use shared::{Channel, ReplyMode};

/// What the compose box needs to know about the open conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComposeFacts {
    pub channel: Channel,
    /// Where the consumer last wrote: public or private.
    pub default_mode: ReplyMode,
    pub open: bool,
    /// What decides which modes are open now (`shared::replies`).
    pub reply: ReplyFacts,
}

impl ComposeFacts {
    /// What the compose box needs from a loaded transcript.
    pub fn of(t: &shared::api::Transcript) -> ComposeFacts {
        ComposeFacts {
            channel: t.conversation.channel,
            default_mode: shared::api::default_reply_mode(&t.lines),
            open: t.conversation.status == shared::api::ConversationStatus::Open,
            reply: t.reply_facts,
        }
    }
}

/// The page's clock, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A signal of [`now_ms`] that moves every half minute, so a reply window that closes
/// while the conversation is open shows closed without a reload.
pub fn use_clock() -> Signal<i64> {
    let now = RwSignal::new(now_ms());
    if let Ok(handle) = set_interval_with_handle(
        move || now.set(now_ms()),
        std::time::Duration::from_secs(30),
    ) {
        on_cleanup(move || handle.clear());
    }
    now.into()
}

/// Why `mode` cannot be used now on the conversation `facts` describe; `None` when it can.
pub fn mode_refusal(facts: &ComposeFacts, mode: ReplyMode, now_ms: i64) -> Option<Unavailable> {
    shared::replies::refusal(facts.channel, mode, &facts.reply, now_ms)
}

#[component]
pub fn Compose(
    /// The open conversation's id.
    #[prop(into)]
    conversation: Signal<Option<i64>>,
    /// Facts about it, once its transcript has loaded.
    #[prop(into)]
    facts: Signal<Option<ComposeFacts>>,
    /// Called after a reply was accepted (to refresh the transcript at once).
    on_sent: Callback<()>,
    /// What canned responses' placeholders become here: the consumer and the agent.
    #[prop(into, optional)]
    values: MaybeProp<shared::canned::Values>,
    /// The name of another person who holds the conversation (see [`super::guards`]).
    #[prop(optional, into)]
    held_by: Signal<Option<String>>,
    /// The latest "someone is typing" from the server's event stream.
    #[prop(optional, into)]
    typing: Signal<Option<shared::api::Typing>>,
) -> impl IntoView {
    let draft = use_draft();
    let text = draft.text;
    // `None`: follow where the consumer last wrote.
    let chosen = draft.chosen;
    let error = RwSignal::new(None::<String>);
    // Writing a note rather than a reply.
    let noting = RwSignal::new(false);
    Effect::new(move |_| {
        conversation.track();
        text.set(String::new());
        chosen.set(None);
        error.set(None);
        noting.set(false);
    });
    let canned = super::canned::use_canned(text, values);
    let mode = Signal::derive(move || {
        chosen
            .get()
            .or(facts.get().map(|f| f.default_mode))
            .unwrap_or(ReplyMode::Private)
    });
    let clock = use_clock();
    let refusal = move |m: ReplyMode| facts.get().and_then(|f| mode_refusal(&f, m, clock.get()));
    // The mode in force may have closed meanwhile (its one private reply went): nothing is
    // sent until the agent picks another, rather than switching for them.
    let blocked = move || !noting.get() && refusal(mode.get()).is_some();
    let send = Action::new_local(move |(id, req): &(i64, ReplyRequest)| {
        let (id, req) = (*id, req.clone());
        async move { api::reply(id, &req).await }
    });
    Effect::new(move |_| match send.value().get() {
        Some(Ok(line)) if line.status == LineStatus::Failed => {
            error.set(Some(format!(
                "message not sent: {}",
                line.error.unwrap_or_default()
            )));
            on_sent.run(());
        }
        Some(Ok(_)) => {
            text.set(String::new());
            // A new draft: the switch follows the consumer again.
            chosen.set(None);
            error.set(None);
            on_sent.run(());
        }
        Some(Err(e)) => error.set(Some(format!("message not sent: {}", e.message))),
        None => {}
    });
    // A note: posted, then the transcript fetched again to show it (its answer unread).
    let adding = RwSignal::new(false);
    let add_note = move |id: i64, body: String| {
        adding.set(true);
        leptos::task::spawn_local(async move {
            let path = format!("/api/conversations/{id}/notes");
            let result = api::fetch(
                Method::POST,
                &path,
                Some(api::json(&NewNote { text: body })),
            )
            .await;
            let _ = adding.try_set(false);
            match result {
                Ok(_) => {
                    text.set(String::new());
                    error.set(None);
                    on_sent.run(());
                }
                Err(e) => error.set(Some(format!("note not added: {}", e.message))),
            }
        });
    };
    let pending = move || send.pending().get() || adding.get();
    let guard = super::guards::use_guard(conversation, held_by);
    let notify_typing = super::guards::use_typing_notifier(conversation);
    // `asked`: the agent has answered the question about a reply going the other way.
    let submit = move |mode: ReplyMode, asked: bool| {
        let Some(id) = conversation.get_untracked() else {
            return;
        };
        let body = text.get_untracked();
        if noting.get_untracked() {
            if body.trim().is_empty() {
                error.set(Some("Write the note first.".into()));
            } else {
                add_note(id, body);
            }
            return;
        }
        if body.trim().is_empty() {
            error.set(Some("Write a reply first.".into()));
            return;
        }
        guard.asking.set(None);
        if !asked && let Some(f) = facts.get_untracked() {
            let theirs_open = mode_refusal(&f, f.default_mode, now_ms()).is_none();
            if super::guards::goes_other_way(mode, f.default_mode, theirs_open) {
                guard.asking.set(Some(mode));
                crate::pages::focus_later(super::guards::FIRST_CHOICE.into());
                return;
            }
        }
        send.dispatch((
            id,
            ReplyRequest {
                text: body,
                mode,
                upload_id: None,
            },
        ));
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // A note needs no deliberate step: it reaches no one outside the brand.
        if noting.get_untracked() || !guard.locked.get_untracked() {
            submit(mode.get_untracked(), false);
        }
    };
    let on_choose = Callback::new(move |m: ReplyMode| {
        if m != mode.get_untracked() {
            chosen.set(Some(m));
        }
        submit(m, true);
    });
    let closed = move || facts.get().is_some_and(|f| !f.open);
    // The count is for where a reply in the switch's mode goes; a note goes nowhere.
    let target = Signal::derive(move || {
        let f = facts.get().filter(|_| !noting.get())?;
        Some(reply_target(f.channel, mode.get()))
    });
    let count = Signal::derive(move || text.with(|t| super::count::count_for(target.get(), t)));
    view! {
        <form class="sc-compose" on:submit=on_submit aria-label="Reply to the consumer">
            <super::mode_switch::ModeSwitch
                facts
                pressed=Signal::derive(move || (!noting.get()).then(|| mode.get()))
                on_pick=Callback::new(move |m| {
                    chosen.set(Some(m));
                    noting.set(false);
                })
            >
                <button
                    type="button"
                    class="sc-tab sc-tab--note"
                    aria-pressed=move || noting.get().to_string()
                    on:click=move |_| noting.set(true)
                >
                    "Note"
                </button>
            </super::mode_switch::ModeSwitch>
            <p class="sc-compose__note">
                {move || {
                    if noting.get() {
                        Some("A private note: only your team sees it; it is never sent.")
                    } else {
                        facts.get().map(|f| super::mode_switch::last_wrote(&f))
                    }
                }}
            </p>
            <super::guards::HeldNote guard />
            <super::guards::TypingNote conversation typing />
            <label class="sc-compose__label" for="sc-reply">
                {move || if noting.get() { "Note" } else { "Reply" }}
            </label>
            <textarea
                id="sc-reply"
                class="sc-compose__box"
                class:sc-compose__box--note=move || noting.get()
                rows="3"
                aria-describedby="sc-reply-count"
                aria-invalid=move || super::count::over(count.get()).to_string()
                aria-controls=super::canned::LIST_ID
                aria-activedescendant=move || canned.active_id()
                on:keydown=move |ev| canned.keydown(&ev)
                bind:value=text
                on:input=move |_| notify_typing()
            ></textarea>
            {canned.view()}
            <super::count::CountLine id="sc-reply-count" count target />
            <div class="sc-compose__row">
                <p class="sc-compose__error" role="alert">
                    {move || error.get()}
                </p>
                <button
                    class="sc-button"
                    type="submit"
                    disabled=move || {
                        pending()
                            || (closed() && !noting.get())
                            || blocked()
                            || (guard.locked.get() && !noting.get())
                    }
                >
                    {move || match (noting.get(), pending()) {
                        (true, true) => "Adding…",
                        (true, false) => "Add note",
                        (false, true) => "Sending…",
                        (false, false) => "Send",
                    }}
                </button>
            </div>
            <super::guards::OtherWayQuestion guard mode on_choose />
        </form>
    }
}
