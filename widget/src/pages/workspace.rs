//! The agent workspace: the queue (New, Mine, All open) beside the open conversation and
//! the Social Widget, kept current by the server's live events without a reload. It fills
//! the window: each column scrolls on its own, the transcript opens at its newest line and
//! the Reply box stays in view below it. On a wide screen the three sit side by side (the
//! queue and the widget can be folded away); in a narrow panel one shows at a time.

use super::Shell;
use crate::components::{
    Compose, ComposeFacts, ConversationView, Follow, QueueList, QueueSearch, QueueSortSwitch,
    SocialWidget,
};
use crate::host::Host;
use crate::live::use_live;
use crate::{api, state::use_auth};
use leptos::prelude::*;
use shared::api::{QueueSort, QueueView};

#[component]
pub fn Workspace() -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let draft = crate::state::provide_draft();
    let host = Host::Standalone(draft);
    let (view_sel, set_view) = signal(QueueView::New);
    let sort = RwSignal::new(QueueSort::Activity);
    crate::components::provide_clock();
    // Bumped after our own Take/Close so the page does not wait for the event.
    let refresh = RwSignal::new(0u64);
    let nav = crate::nav::use_nav();
    let selected = Memo::new(move |_| {
        nav.query("conversation")
            .and_then(|s| s.parse::<i64>().ok())
    });

    let queue = crate::state::load(move || {
        live.changes.track();
        refresh.track();
        // Opening a conversation reads it: the queue's unread counts move.
        selected.track();
        let (view, sort) = (view_sel.get(), sort.get());
        async move { api::queue(view, sort).await }
    });
    let fetched = crate::state::load(move || {
        live.changes.track();
        refresh.track();
        let id = selected.get();
        async move {
            match id {
                Some(id) => Some(api::transcript(id).await),
                None => None,
            }
        }
    });

    // Every live event fetches the transcript again; only a changed one is drawn again,
    // so a video the agent plays in it keeps playing while other conversations change.
    let transcript = Memo::new(move |_| fetched.get());

    let error = RwSignal::new(None::<String>);
    let act = move |result: Result<shared::api::ConversationInfo, shared::ApiError>| {
        match result {
            Ok(_) => error.set(None),
            Err(e) => error.set(Some(e.message)),
        }
        refresh.update(|n| *n += 1);
    };
    let take = Action::new_local(move |id: &i64| {
        let id = *id;
        async move { act(api::take(id).await) }
    });
    let close = Action::new_local(move |id: &i64| {
        let id = *id;
        async move { act(api::close(id).await) }
    });
    // Transfer: the form stays open across live updates, and closes with another
    // conversation.
    let transferring = RwSignal::new(false);
    Effect::new(move |_| {
        selected.track();
        transferring.set(false);
    });
    let moving = RwSignal::new(false);
    let on_transfer = Callback::new(move |(id, to): (i64, shared::api::Transfer)| {
        moving.set(true);
        leptos::task::spawn_local(async move {
            let result = api::transfer(id, &to).await;
            moving.set(false);
            if result.is_ok() {
                transferring.set(false);
                // Sent beyond the agent's skills, it is no longer theirs to see.
                if let Err(e) = api::transcript(id).await
                    && e.code == shared::ErrorCode::NotFound
                {
                    nav.push("/workspace");
                }
            }
            act(result);
        });
    });
    let busy =
        Signal::derive(move || take.pending().get() || close.pending().get() || moving.get());
    let on_take = Callback::new(move |id: i64| {
        take.dispatch(id);
    });
    let on_close = Callback::new(move |id: i64| {
        close.dispatch(id);
    });

    let facts = Signal::derive(move || {
        let t = transcript.get().flatten()?.ok()?;
        Some(ComposeFacts::of(&t))
    });
    let follow = Follow::new();
    let on_sent = Callback::new(move |()| {
        follow.stick();
        refresh.update(|n| *n += 1);
    });
    // What canned responses' placeholders become in the open conversation.
    let canned_values = Signal::derive(move || {
        transcript.with(|t| {
            let t = t.as_ref()?.as_ref()?.as_ref().ok()?;
            Some(shared::canned::Values {
                consumer_name: t.consumer.name.clone(),
                consumer_handle: t.consumer.handle.clone(),
                agent_name: auth.user().map(|me| me.name).unwrap_or_default(),
            })
        })
    });
    // Search in the queue column; while it holds something, its results replace the queue.
    let search = RwSignal::new(String::new());
    // Another person holds the open conversation: the compose box asks before answering.
    let held_by = Signal::derive(move || {
        let t = transcript.get().flatten()?.ok()?;
        let me = auth.user().map(|m| m.user_id);
        (t.conversation.status == shared::api::ConversationStatus::Open)
            .then_some(t.conversation.assigned_to)?
            .filter(|a| Some(a.id) != me)
            .map(|a| a.name)
    });
    // The last transcript that loaded: the widget keeps showing it while the next loads.
    let loaded = Signal::derive(move || transcript.get().flatten().and_then(Result::ok));

    let empty = move || match view_sel.get() {
        QueueView::New => "No new conversations.",
        QueueView::Mine => "No conversations assigned to you.",
        QueueView::All => "No open conversations.",
    };
    // Which columns show beside the conversation. The widget starts open where there is
    // room for three columns; in a narrow panel it replaces the conversation while open.
    let queue_open = RwSignal::new(true);
    let tools_open = RwSignal::new(wide_enough_for_three());
    // In a narrow panel, a tool that fills the Reply box (Use, Add Public to Private)
    // brings the conversation back to show it.
    let drafted = Memo::new(move |_| draft.text.get());
    Effect::new(move |seen: Option<()>| {
        let filled = drafted.with(|t| !t.is_empty());
        if seen.is_some() && filled && !media_matches("(min-width: 900px)") {
            tools_open.set(false);
        }
    });
    let panels = move || {
        view! {
            <button
                type="button"
                class="sc-button sc-button--quiet sc-workspace__queue-toggle"
                aria-controls="sc-queue"
                aria-expanded=move || queue_open.get().to_string()
                on:click=move |_| queue_open.update(|o| *o = !*o)
            >
                "Queue"
            </button>
            <button
                type="button"
                id="sc-tools-toggle"
                class="sc-button sc-button--quiet"
                aria-controls="sc-workspace-side"
                aria-expanded=move || tools_open.get().to_string()
                on:click=move |_| {
                    tools_open.update(|o| *o = !*o);
                    // In a narrow panel the widget takes the conversation's place: the
                    // focus goes with it.
                    if tools_open.get_untracked() && !media_matches("(min-width: 900px)") {
                        super::focus_later("sc-workspace-back".into());
                    }
                }
            >
                "Tools"
            </button>
        }
    };

    view! {
        <Shell title="Workspace" full=true>
            <div
                class="sc-workspace"
                class:sc-workspace--open=move || selected.get().is_some()
                class:sc-workspace--folded=move || !queue_open.get()
                class:sc-workspace--tools=move || tools_open.get()
            >
                <section
                    id="sc-queue"
                    class="sc-queue"
                    class:sc-queue--searching=move || !search.with(|q| q.trim().is_empty())
                    aria-labelledby="sc-queue-title"
                >
                    <div class="sc-queue__head">
                        <h2 class="sc-queue__title" id="sc-queue-title">
                            "Queue"
                        </h2>
                        <span class="sc-live" class:sc-live--on=move || live.connected.get()>
                            {move || if live.connected.get() { "Live" } else { "Connecting…" }}
                        </span>
                    </div>
                    <QueueSearch query=search selected />
                    <div class="sc-queue__views" role="group" aria-label="Queue view">
                        {QueueView::ALL
                            .into_iter()
                            .map(|v| {
                                view! {
                                    <button
                                        class="sc-tab"
                                        aria-pressed=move || (view_sel.get() == v).to_string()
                                        on:click=move |_| set_view.set(v)
                                    >
                                        {v.label()}
                                    </button>
                                }
                            })
                            .collect_view()}
                    </div>
                    <QueueSortSwitch sort />
                    {move || {
                        match queue.get() {
                            None => {
                                view! { <p class="sc-queue__empty">"Loading the queue…"</p> }
                                    .into_any()
                            }
                            Some(Ok(items)) => {
                                view! {
                                    <QueueList items selected=selected empty=empty() />
                                }
                                    .into_any()
                            }
                            Some(Err(e)) => {
                                view! {
                                    <p class="sc-form__error" role="alert">
                                        {e.message}
                                    </p>
                                }
                                    .into_any()
                            }
                        }
                    }}
                </section>
                <section class="sc-conversation" aria-label="Conversation">
                    {move || {
                        error
                            .get()
                            .map(|e| {
                                view! {
                                    <p class="sc-form__error" role="alert">
                                        {e}
                                    </p>
                                }
                            })
                    }}
                    {move || {
                        match transcript.get() {
                            None => {
                                view! {
                                    <p class="sc-conversation__empty">
                                        "Loading the conversation…"
                                    </p>
                                }
                                    .into_any()
                            }
                            Some(None) => {
                                view! {
                                    <p class="sc-conversation__empty">
                                        "Select a conversation in the queue to read it."
                                    </p>
                                }
                                    .into_any()
                            }
                            Some(Some(Ok(t))) => {
                                let me = auth.user().map(|m| m.user_id);
                                view! {
                                    <ConversationView
                                        transcript=t
                                        me
                                        busy
                                        on_take
                                        on_close
                                        transferring
                                        on_transfer
                                        follow
                                        panels
                                    />
                                }
                                    .into_any()
                            }
                            Some(Some(Err(e))) => {
                                view! {
                                    <p class="sc-form__error" role="alert">
                                        {e.message}
                                    </p>
                                    <a href="/workspace">"Back to queue"</a>
                                }
                                    .into_any()
                            }
                        }
                    }}
                    <Show when=move || selected.get().is_some()>
                        <Compose
                            conversation=selected
                            facts
                            on_sent
                            values=canned_values
                            held_by
                            typing=live.typing
                        />
                    </Show>
                </section>
                <Show when=move || selected.get().is_some()>
                    <div id="sc-workspace-side" class="sc-workspace__side">
                        <button
                            type="button"
                            id="sc-workspace-back"
                            class="sc-button sc-button--quiet sc-workspace__back"
                            on:click=move |_| {
                                tools_open.set(false);
                                super::focus_later("sc-tools-toggle".into());
                            }
                        >
                            "Back to conversation"
                        </button>
                        <SocialWidget transcript=loaded host on_sent />
                    </div>
                </Show>
            </div>
        </Shell>
    }
}

/// Whether the window has room for the queue, the conversation and the widget side by side
/// (the stylesheet's three-column width).
fn wide_enough_for_three() -> bool {
    media_matches("(min-width: 1200px)")
}

fn media_matches(query: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.match_media(query).ok().flatten())
        .is_some_and(|m| m.matches())
}
