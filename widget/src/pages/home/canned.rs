//! SocialConnect Home's Canned responses section: the brand's ready answers, each under
//! a shortcut agents type in the Reply box (`/greet`), with placeholders filled in there.
//! The server checks each with `shared::canned`'s rules and says what is wrong (an
//! unknown placeholder, a shortcut taken), which the section shows.

use crate::api;
use gloo_net::http::Method;
use leptos::prelude::*;
use shared::canned::{CannedResponse, PLACEHOLDERS, SaveCanned};

/// The Canned responses section. Changes also fetch Home's overview again (`refresh`),
/// whose audit log records them.
#[component]
pub fn CannedResponses(
    /// Bumped after a change, to fetch Home's overview again.
    refresh: RwSignal<u64>,
) -> impl IntoView {
    let list = RwSignal::new(None::<Result<Vec<CannedResponse>, String>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            // `fetch` then `parse`: only the parsing is made for this type (the bundle's size).
            let answer = api::fetch(Method::GET, "/api/canned", None)
                .await
                .and_then(|a| api::parse::<Vec<CannedResponse>>(&a));
            let _ = list.try_set(Some(answer.map_err(|e| e.message)));
        })
    };
    reload();
    // The one being changed; `None`: the form adds a new one.
    let editing = RwSignal::new(None::<i64>);
    let shortcut = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Sends a change; the note to show when it is done.
    let change = move |method: Method, path: String, body: Option<SaveCanned>, done: String| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let body = body.map_or_else(|| "null".to_owned(), |b| api::json(&b));
            let result = api::fetch(method, &path, Some(body)).await;
            busy.set(false);
            match result {
                Ok(_) => {
                    error.set(None);
                    note.set(Some(done));
                    editing.set(None);
                    shortcut.set(String::new());
                    text.set(String::new());
                    reload();
                    refresh.update(|n| *n += 1);
                }
                Err(e) => {
                    note.set(None);
                    error.set(Some(e.message));
                }
            }
        });
    };
    let on_save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // The server checks it (`shared::canned`) and says what is wrong.
        let req = SaveCanned {
            shortcut: shortcut.get_untracked(),
            text: text.get_untracked(),
        };
        let (method, path, word) = match editing.get_untracked() {
            Some(id) => (Method::PUT, format!("/api/home/canned/{id}"), "saved"),
            None => (Method::POST, "/api/home/canned".to_owned(), "added"),
        };
        let name = req
            .shortcut
            .trim()
            .trim_start_matches('/')
            .to_ascii_lowercase();
        let done = format!("Canned response /{name} {word}.");
        change(method, path, Some(req), done);
    };

    let rows = move || {
        list.get().map(|r| match r {
            Ok(all) if all.is_empty() => {
                view! { <p class="sc-home__hint">"No canned responses yet."</p> }.into_any()
            }
            Ok(all) => {
                let items = all
                    .into_iter()
                    .map(|c| {
                        let name = format!("/{}", c.shortcut);
                        let (id, edit_text, edit_shortcut) = (c.id, c.text.clone(), c.shortcut);
                        let removed = format!("Canned response {name} removed.");
                        view! {
                            <li class="sc-home__skill sc-canned-row">
                                <span class="sc-home__name">{name.clone()}</span>
                                <span class="sc-canned-row__text">{c.text}</span>
                                <button
                                    class="sc-button sc-button--quiet"
                                    aria-label=format!("Edit {name}")
                                    disabled=busy
                                    on:click=move |_| {
                                        editing.set(Some(id));
                                        shortcut.set(edit_shortcut.clone());
                                        text.set(edit_text.clone());
                                        note.set(None);
                                        error.set(None);
                                        crate::pages::focus_later("sc-canned-text".into());
                                    }
                                >
                                    "Edit"
                                </button>
                                <button
                                    class="sc-button sc-button--danger"
                                    aria-label=format!("Delete {name}")
                                    disabled=busy
                                    on:click=move |_| {
                                        change(
                                            Method::DELETE,
                                            format!("/api/home/canned/{id}"),
                                            None,
                                            removed.clone(),
                                        )
                                    }
                                >
                                    "Delete"
                                </button>
                            </li>
                        }
                    })
                    .collect_view();
                view! { <ul class="sc-home__skills">{items}</ul> }.into_any()
            }
            Err(e) => view! { <p class="sc-form__error" role="alert">{e}</p> }.into_any(),
        })
    };
    let placeholders = PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{{{p}}}}}"))
        .collect::<Vec<_>>()
        .join(", ");

    view! {
        <section class="sc-home__section" aria-labelledby="sc-home-canned">
            <h2 id="sc-home-canned">"Canned responses"</h2>
            <p class="sc-home__hint">
                "Agents type / and the shortcut in the Reply box to put the text there, its placeholders filled in: "
                <code>{placeholders}</code>
                "."
            </p>
            {move || note.get().map(|n| view! { <p class="sc-home__note" role="status">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })}
            {rows}
            <form class="sc-form sc-canned-form" on:submit=on_save>
                <h3>
                    {move || if editing.get().is_some() {
                        "Change the canned response"
                    } else {
                        "New canned response"
                    }}
                </h3>
                <div class="sc-form__field">
                    <label for="sc-canned-shortcut">"Shortcut"</label>
                    <input
                        id="sc-canned-shortcut"
                        type="text"
                        autocomplete="off"
                        placeholder="greet"
                        required
                        bind:value=shortcut
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sc-canned-text">"Text"</label>
                    <textarea
                        id="sc-canned-text"
                        rows="3"
                        required
                        placeholder="Hi {{consumer.first_name}}, thanks for writing!"
                        bind:value=text
                    ></textarea>
                </div>
                <div class="sc-home__actions">
                    <button class="sc-button" type="submit" disabled=busy>
                        {move || if editing.get().is_some() {
                            "Save canned response"
                        } else {
                            "Add canned response"
                        }}
                    </button>
                    <Show when=move || editing.get().is_some()>
                        <button
                            class="sc-button sc-button--quiet"
                            type="button"
                            on:click=move |_| {
                                editing.set(None);
                                shortcut.set(String::new());
                                text.set(String::new());
                            }
                        >
                            "Cancel"
                        </button>
                    </Show>
                </div>
            </form>
        </section>
    }
}
