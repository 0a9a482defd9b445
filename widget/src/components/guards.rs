//! What the compose box weighs before Send, beside the reply itself: another person holds
//! the conversation (Send waits for a deliberate `Answer anyway`), someone else is typing
//! in it right now (told by the server's `typing` events, shown for a few seconds), and a
//! reply going the other way from where the consumer last wrote (public or private), which
//! is asked about once, inline.

use leptos::prelude::*;
use shared::ReplyMode;
use shared::api::Typing;
use std::time::Duration;

/// How often the server is told that the agent is typing, at most.
const TELL_EVERY_MS: f64 = 3_000.0;
/// How long "… is typing…" stays after the last word of it.
const TYPING_SHOWN: Duration = Duration::from_secs(5);

/// Whether a mode answers in public.
fn public(mode: ReplyMode) -> bool {
    mode == ReplyMode::Public
}

/// The mode to offer instead when a reply in `mode` goes the other way from where the
/// consumer last wrote (`theirs`) and that way is open (`theirs_open`); `None`: no question.
pub fn other_way(mode: ReplyMode, theirs: ReplyMode, theirs_open: bool) -> Option<ReplyMode> {
    (public(mode) != public(theirs) && theirs_open).then_some(theirs)
}

/// The compose box's guards for the open conversation.
#[derive(Clone, Copy)]
pub struct Guard {
    /// Another person holds it and the agent has not chosen to answer anyway.
    pub locked: Signal<bool>,
    answer_anyway: RwSignal<bool>,
    holder: Memo<Option<String>>,
    /// The question before a reply that goes the other way: the consumer's own mode.
    pub asking: RwSignal<Option<ReplyMode>>,
}

/// Guards for `conversation`, held by `held_by` (another person's name) when it is.
pub fn use_guard(
    conversation: Signal<Option<i64>>,
    held_by: Signal<Option<String>>,
    mode: Signal<ReplyMode>,
) -> Guard {
    let answer_anyway = RwSignal::new(false);
    let asking = RwSignal::new(None);
    // Only a change of holder counts, not every refetch of the same transcript.
    let holder = Memo::new(move |_| held_by.get());
    let mode = Memo::new(move |_| mode.get());
    Effect::new(move |_| {
        conversation.track();
        holder.track();
        answer_anyway.set(false);
        asking.set(None);
    });
    Effect::new(move |_| {
        mode.track();
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
    let answer = move |_| {
        guard.answer_anyway.set(true);
        // The keyboard carries on where the answer is written.
        if let Some(reply) = document().get_element_by_id("sc-reply") {
            let _ = wasm_bindgen::JsCast::unchecked_ref::<web_sys::HtmlElement>(&reply).focus();
        }
    };
    move || {
        guard.holder.get().map(|name| {
            view! {
                <div class="sc-compose__held">
                    <p id="sc-compose-held" class="sc-compose__note">
                        {format!("{name} has this conversation.")}
                    </p>
                    <Show when=move || !guard.answer_anyway.get()>
                        <button
                            type="button"
                            class="sc-button sc-button--quiet"
                            aria-describedby="sc-compose-held"
                            on:click=answer
                        >
                            "Answer anyway"
                        </button>
                    </Show>
                </div>
            }
        })
    }
}

/// The inline question before a reply goes the other way from the consumer: send it as
/// chosen, or the consumer's way. Its first choice takes the focus.
#[component]
pub fn OtherWayQuestion(
    guard: Guard,
    /// The mode chosen.
    #[prop(into)]
    mode: Signal<ReplyMode>,
    /// Sends in the given mode without asking again.
    on_choose: Callback<ReplyMode>,
) -> impl IntoView {
    let first = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(b) = first.get() {
            let _ = b.focus();
        }
    });
    move || {
        guard.asking.get().map(|theirs| {
            let chosen = mode.get_untracked();
            let (where_, how) = if public(theirs) {
                ("in public", "privately")
            } else {
                ("in private", "in public")
            };
            view! {
                <div
                    class="sc-compose__ask"
                    role="group"
                    aria-labelledby="sc-compose-ask"
                >
                    <p id="sc-compose-ask" class="sc-compose__note">
                        {format!("The consumer last wrote {where_}. Send this reply {how}?")}
                    </p>
                    <button
                        type="button"
                        class="sc-button"
                        node_ref=first
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

/// "NAME is typing…" while another person types in `conversation`, for a few seconds after
/// each word of it (a timer clears it).
#[component]
pub fn TypingNote(
    #[prop(into)] conversation: Signal<Option<i64>>,
    #[prop(into)] typing: Signal<Option<Typing>>,
) -> impl IntoView {
    let shown = RwSignal::new(None::<(i64, String)>);
    let told = StoredValue::new(0u64);
    Effect::new(move |_| {
        let Some(t) = typing.get() else {
            return;
        };
        let this = told.get_value() + 1;
        told.set_value(this);
        shown.set(Some((t.conversation_id, t.agent.name)));
        set_timeout(
            move || {
                if told.try_get_value() == Some(this) {
                    shown.try_set(None);
                }
            },
            TYPING_SHOWN,
        );
    });
    let text = move || {
        shown.with(|s| {
            s.as_ref()
                .filter(|(c, _)| Some(*c) == conversation.get())
                .map(|(_, name)| format!("{name} is typing…"))
        })
    };
    view! {
        <p class="sc-compose__typing" role="status">
            {text}
        </p>
    }
}
