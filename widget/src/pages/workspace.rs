//! The agent workspace: the queue (New, Mine, All open) beside the open conversation, kept
//! current by the server's live events without a reload. In a narrow panel the queue and
//! the conversation take turns; on a wide screen they sit side by side.

use super::Shell;
use crate::components::{
    Compose, ComposeFacts, ConversationView, QueueList, QueueSortSwitch, SocialWidget,
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
    let host = Host::detect(draft);
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
        Some(ComposeFacts {
            channel: t.conversation.channel,
            default_mode: shared::api::default_reply_mode(&t.lines),
            open: t.conversation.status == shared::api::ConversationStatus::Open,
            reply: t.reply_facts,
        })
    });
    let on_sent = Callback::new(move |()| refresh.update(|n| *n += 1));
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
    let layout = move || {
        if selected.get().is_some() {
            "sc-workspace sc-workspace--open"
        } else {
            "sc-workspace"
        }
    };

    view! {
        <Shell title="Workspace">
            <div class=layout>
                <section class="sc-queue" aria-labelledby="sc-queue-title">
                    <div class="sc-queue__head">
                        <h2 class="sc-queue__title" id="sc-queue-title">
                            "Queue"
                        </h2>
                        <span class="sc-live" class:sc-live--on=move || live.connected.get()>
                            {move || if live.connected.get() { "Live" } else { "Connecting…" }}
                        </span>
                    </div>
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
                        <Compose conversation=selected facts on_sent held_by typing=live.typing />
                    </Show>
                </section>
                <Show when=move || selected.get().is_some()>
                    <div class="sc-workspace__side">
                        <SocialWidget transcript=loaded host on_sent />
                    </div>
                </Show>
            </div>
        </Shell>
    }
}
