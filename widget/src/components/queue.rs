//! The queue: one link per conversation, with who, where, the last line (its tag, time and
//! who wrote it), the lines the agent has not read, a failed reply, how long the consumer
//! has waited, and whether it is new or whose it is. Each link is named so that one
//! consumer's conversations tell apart: "Ann Lee, Facebook, Public/Comment, 3 min ago".

use super::time::{Time, shown, use_now};
use leptos::prelude::*;
use shared::api::{QueueItem, QueueSort};

/// The name of a queue link: the consumer, the network, the last line's tag and its time.
pub fn link_name(item: &QueueItem, now: i64) -> String {
    let mut name = format!("{}, {}", item.consumer_label(), item.channel.label());
    if let Some(l) = &item.last {
        name.push_str(&format!(", {}, {}", l.tag.as_str(), shown(&l.at, now)));
    }
    name
}

/// The conversations of one queue view.
#[component]
pub fn QueueList(
    /// The conversations, in the order asked for.
    items: Vec<QueueItem>,
    /// The open conversation, marked as current.
    #[prop(into)]
    selected: Signal<Option<i64>>,
    /// Said when `items` is empty.
    empty: &'static str,
) -> impl IntoView {
    if items.is_empty() {
        return view! { <p class="sc-queue__empty">{empty}</p> }.into_any();
    }
    let now = use_now();
    view! {
        <ul class="sc-queue__list">
            {items
                .into_iter()
                .map(|item| {
                    let id = item.id;
                    let who = item.consumer_label();
                    let preview_id = format!("sc-queue-{id}-preview");
                    let facts_id = format!("sc-queue-{id}-facts");
                    let described_by = format!("{preview_id} {facts_id}");
                    let (tag, text) = match &item.last {
                        Some(l) => (l.tag.as_str(), l.text.clone()),
                        None => ("", String::new()),
                    };
                    let last = item.last.as_ref().map(|l| {
                        view! {
                            <Time at=l.at.clone() />
                            <span class="sc-queue__author">
                                {format!("{} wrote last", l.author.label())}
                            </span>
                        }
                    });
                    // The open conversation is being read: its count is already stale.
                    let unread = item.unread;
                    let unread = move || {
                        (unread > 0 && selected.get() != Some(id))
                            .then(|| {
                                view! {
                                    <span class="sc-badge sc-badge--unread">
                                        {format!("{unread} unread")}
                                    </span>
                                }
                            })
                    };
                    let failed = item
                        .reply_failed
                        .then(|| {
                            view! { <span class="sc-badge sc-badge--failed">"Reply failed"</span> }
                        });
                    let waiting = item
                        .waiting_since
                        .as_deref()
                        .and_then(shared::time::parse_rfc3339)
                        .map(|since| {
                            view! {
                                <span class="sc-queue__waiting">
                                    {move || {
                                        format!("Waiting {}", shared::time::waited(since, now.get()))
                                    }}
                                </span>
                            }
                        });
                    let state = match &item.assigned_to {
                        // Found by search: the queue itself lists open ones only.
                        _ if item.closed => view! {
                            <span class="sc-badge sc-badge--closed">"Closed"</span>
                        }
                            .into_any(),
                        None => view! { <span class="sc-badge sc-badge--new">"New"</span> }
                            .into_any(),
                        Some(agent) => view! {
                            <span class="sc-queue__agent">{agent.name.clone()}</span>
                        }
                            .into_any(),
                    };
                    let channel = item.channel.label();
                    let name = move || link_name(&item, now.get());
                    view! {
                        <li>
                            <a
                                class="sc-queue__item"
                                href=format!("/workspace?conversation={id}")
                                aria-current=move || {
                                    (selected.get() == Some(id)).then_some("true")
                                }
                                aria-label=name
                                aria-describedby=described_by
                            >
                                <span class="sc-queue__row">
                                    <span class="sc-queue__who">{who}</span>
                                    <span class="sc-queue__channel">{channel}</span>
                                </span>
                                <span class="sc-queue__preview" id=preview_id>
                                    <span class="sc-tag">{tag}</span>
                                    " "
                                    <span class="sc-queue__text">{text}</span>
                                </span>
                                <span class="sc-queue__facts" id=facts_id>
                                    {last}
                                    {unread}
                                    {failed}
                                    {waiting}
                                    {state}
                                </span>
                            </a>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

/// How the queue is ordered: newest activity (the default) or longest waiting first.
#[component]
pub fn QueueSortSwitch(sort: RwSignal<QueueSort>) -> impl IntoView {
    view! {
        <div class="sc-queue__views sc-queue__sort" role="group" aria-label="Sort the queue by">
            {QueueSort::ALL
                .into_iter()
                .map(|s| {
                    view! {
                        <button
                            type="button"
                            class="sc-tab"
                            aria-pressed=move || (sort.get() == s).to_string()
                            on:click=move |_| sort.set(s)
                        >
                            {s.label()}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
