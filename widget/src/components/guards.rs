//! What the compose box weighs before Send, beside the reply itself: another person holds
//! the conversation (Send waits for a deliberate `Answer anyway`), someone else is typing
//! in it right now (the server's `typing` events, kept for a few seconds), and a
//! reply going the other way from where the consumer last wrote (public or private), which
//! is asked about once, inline.

use leptos::prelude::*;
use shared::ReplyMode;
use shared::api::Typing;

/// How often the server is told that the agent is typing, at most.
const TELL_EVERY_MS: f64 = 3_000.0;

/// Whether a mode answers in public.
fn public(mode: ReplyMode) -> bool {
    mode == ReplyMode::Public
}

/// Whether a reply in `mode` goes the other way from where the consumer last wrote
/// (`theirs`) while their way is open (`theirs_open`): then the agent is asked first.
pub fn goes_other_way(mode: ReplyMode, theirs: ReplyMode, theirs_open: bool) -> bool {
    public(mode) != public(theirs) && theirs_open
}

/// The compose box's guards for the open conversation.
#[derive(Clone, Copy)]
pub struct Guard {
    /// Another person holds it and the agent has not chosen to answer anyway.
    pub locked: Signal<bool>,
    answer_anyway: RwSignal<bool>,
    holder: Memo<Option<String>>,
    /// The mode a reply was about to go in when the agent was asked about it; the question
    /// shows while that mode stays chosen.
    pub asking: RwSignal<Option<ReplyMode>>,
}

/// Guards for `conversation`, held by `held_by` (another person's name) when it is.
pub fn use_guard(conversation: Signal<Option<i64>>, held_by: Signal<Option<String>>) -> Guard {
    let answer_anyway = RwSignal::new(false);
    let asking = RwSignal::new(None);
    // Only a change of holder counts, not every refetch of the same transcript.
    let holder = Memo::new(move |_| held_by.get());
    Effect::new(move |_| {
        conversation.track();
        holder.track();
        answer_anyway.set(false);
        asking.set(None);
    });
    Guard {
        locked: Signal::derive(move || holder.with(Option::is_some) && !answer_anyway.get()),
        answer_anyway,
        holder,
        asking,
    }
}

/// "NAME has this conversation." and, until pressed, `Answer anyway`, which opens Send.
#[component]
pub fn HeldNote(guard: Guard) -> impl IntoView {
    move || {
        let name = guard.holder.get()?;
        let answer = (!guard.answer_anyway.get()).then(|| {
            view! {
                <button
                    type="button"
                    class="sc-button sc-button--quiet"
                    aria-describedby="sc-compose-held"
                    on:click=move |_| {
                        guard.answer_anyway.set(true);
                        // The keyboard carries on where the answer is written.
                        crate::pages::focus_later("sc-reply".into());
                    }
                >
                    "Answer anyway"
                </button>
            }
        });
        Some(view! {
            <div class="sc-compose__held">
                <p id="sc-compose-held" class="sc-compose__note">
                    {format!("{name} has this conversation.")}
                </p>
                {answer}
            </div>
        })
    }
}

/// The id of the question's first choice, which takes the focus when it is asked.
pub const FIRST_CHOICE: &str = "sc-compose-ask-first";

/// The inline question before a reply goes the other way from the consumer: send it as
/// chosen, or the consumer's way.
#[component]
pub fn OtherWayQuestion(
    guard: Guard,
    /// The mode chosen.
    #[prop(into)]
    mode: Signal<ReplyMode>,
    /// Sends in the given mode without asking again.
    on_choose: Callback<ReplyMode>,
) -> impl IntoView {
    move || {
        let chosen = mode.get();
        (guard.asking.get() == Some(chosen)).then(|| {
            let (theirs, where_, how) = if public(chosen) {
                (ReplyMode::Private, "in private", "in public")
            } else {
                (ReplyMode::Public, "in public", "privately")
            };
            view! {
                <div class="sc-compose__ask" role="group" aria-labelledby="sc-compose-ask">
                    <p id="sc-compose-ask" class="sc-compose__note">
                        {format!("The consumer last wrote {where_}. Send this reply {how}?")}
                    </p>
                    <button
                        type="button"
                        class="sc-button"
                        id=FIRST_CHOICE
                        on:click=move |_| on_choose.run(chosen)
                    >
                        {format!("Send as {}", chosen.label())}
                    </button>
                    <button
                        type="button"
                        class="sc-button sc-button--quiet"
                        on:click=move |_| on_choose.run(theirs)
                    >
                        {format!("Send as {}", theirs.label())}
                    </button>
                </div>
            }
        })
    }
}

/// Tells the server, at most every 3 seconds, that the agent types in `conversation`.
pub fn use_typing_notifier(conversation: Signal<Option<i64>>) -> impl Fn() + Copy + 'static {
    let last = StoredValue::new(f64::MIN);
    move || {
        let now = js_sys::Date::now();
        let Some(id) = conversation.get_untracked() else {
            return;
        };
        if now - last.get_value() < TELL_EVERY_MS {
            return;
        }
        last.set_value(now);
        leptos::task::spawn_local(async move {
            // Only a courtesy to the others: a failure changes nothing here.
            let _ = crate::api::typing(id).await;
        });
    }
}

/// "NAME is typing…" while another person types in `conversation` (the live stream keeps
/// the news for a few seconds after each word of it).
#[component]
pub fn TypingNote(
    #[prop(into)] conversation: Signal<Option<i64>>,
    #[prop(into)] typing: Signal<Option<Typing>>,
) -> impl IntoView {
    let text = move || {
        typing.with(|t| {
            t.as_ref()
                .filter(|t| Some(t.conversation_id) == conversation.get())
                .map(|t| format!("{} is typing…", t.agent.name))
        })
    };
    view! {
        <p class="sc-compose__typing" role="status">
            {text}
        </p>
    }
}
