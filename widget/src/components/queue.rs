//! The queue: one link per conversation, with who, where, the last line and its tag, and
//! whether it is new or whose it is.

use leptos::prelude::*;
use shared::api::{QueueItem, display_time};

/// The conversations of one queue view.
#[component]
pub fn QueueList(
    /// The conversations, latest activity first.
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
    view! {
        <ul class="sc-queue__list">
            {items
                .into_iter()
                .map(|item| {
                    let id = item.id;
                    let who = item.consumer_label();
                    let preview_id = format!("sc-queue-{id}-preview");
                    let described_by = preview_id.clone();
                    let (tag, text, at) = match &item.last {
                        Some(l) => (l.tag.as_str(), l.text.clone(), display_time(&l.at)),
                        None => ("", String::new(), String::new()),
                    };
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
                    view! {
                        <li>
                            <a
                                class="sc-queue__item"
                                href=format!("/workspace?conversation={id}")
                                aria-current=move || {
                                    (selected.get() == Some(id)).then_some("true")
                                }
                                aria-label=format!("Open conversation with {who}")
                                aria-describedby=described_by
                            >
                                <span class="sc-queue__row">
                                    <span class="sc-queue__who">{who.clone()}</span>
                                    <span class="sc-queue__channel">{item.channel.label()}</span>
                                </span>
                                <span class="sc-queue__preview" id=preview_id>
                                    <span class="sc-tag">{tag}</span>
                                    " "
                                    <span class="sc-queue__text">{text}</span>
                                </span>
                                <span class="sc-queue__row">
                                    <span class="sc-queue__time">{at}</span>
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
