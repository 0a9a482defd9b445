//! Search in the queue column: a search field (`Search conversations`) that finds, as
//! queue items, the conversations the person may see by the consumer's name, handle or a
//! line's words (`GET /api/search`); emptied, the queue shows again.

use super::QueueList;
use crate::api;
use leptos::prelude::*;
use shared::api::QueueItem;

async fn search(term: String) -> Result<Vec<QueueItem>, shared::ApiError> {
    let q = js_sys::encode_uri_component(&term);
    api::get(&format!("/api/search?q={q}")).await
}

/// The field and, while it holds something, what it finds. The page hides its queue while
/// `query` holds something (see `sc-queue--searching`).
#[component]
pub fn QueueSearch(
    /// What is typed.
    query: RwSignal<String>,
    /// The open conversation, marked as current among the results.
    #[prop(into)]
    selected: Signal<Option<i64>>,
) -> impl IntoView {
    let term = Memo::new(move |_| query.with(|q| q.trim().to_owned()));
    let found = crate::state::load(move || {
        let term = term.get();
        async move {
            if term.is_empty() {
                None
            } else {
                Some(search(term).await)
            }
        }
    });
    let searching = move || !term.with(String::is_empty);
    // For screen readers, how many were found (the live region stays on the page, so each
    // new count is announced).
    let said = move || match found.get().flatten() {
        Some(Ok(items)) if searching() => match items.len() {
            1 => "1 conversation found.".to_owned(),
            n => format!("{n} conversations found."),
        },
        _ => String::new(),
    };
    let results = move || {
        searching().then(|| match found.get().flatten() {
            None => view! { <p class="sc-queue__empty">"Searching…"</p> }.into_any(),
            Some(Ok(items)) => {
                view! { <QueueList items selected empty="No conversations match." /> }.into_any()
            }
            Some(Err(e)) => view! {
                <p class="sc-form__error" role="alert">
                    {e.message}
                </p>
            }
            .into_any(),
        })
    };
    view! {
        <form class="sc-search" role="search" on:submit=|ev| ev.prevent_default()>
            <label class="sc-visually-hidden" for="sc-search">
                "Search conversations"
            </label>
            <input
                id="sc-search"
                class="sc-search__input"
                type="search"
                autocomplete="off"
                placeholder="Name, @handle or words"
                bind:value=query
            />
        </form>
        <p class="sc-visually-hidden" role="status">
            {said}
        </p>
        <div class="sc-search__results">{results}</div>
    }
}
