//! The signed-in person's own account, in the page frame: changing their password (which
//! ends their other sessions) and signing out of every session.

use crate::{api, state::use_auth};
use gloo_net::http::Method;
use leptos::prelude::*;
use shared::api::{ChangePassword, PASSWORD_RULES};

/// A small menu in the frame's bar, closed until opened (a `<details>`).
#[component]
pub fn AccountMenu(
    /// What opens it: who is signed in.
    children: Children,
) -> impl IntoView {
    let auth = use_auth();
    let nav = crate::nav::use_nav();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // One request at a time: a new password (`Some`) or signing out everywhere (`None`).
    let send = move |change: Option<ChangePassword>| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let everywhere = change.is_none();
            let result = match &change {
                Some(c) => {
                    api::fetch(Method::PUT, "/api/session/password", Some(api::json(c))).await
                }
                None => api::fetch(Method::DELETE, "/api/sessions", Some("null".into())).await,
            };
            busy.set(false);
            match result {
                Ok(_) if everywhere => {
                    api::set_csrf(None);
                    auth.me.set(Some(None));
                    nav.push(crate::SIGN_IN_PATH);
                }
                Ok(_) => {
                    current.set(String::new());
                    new.set(String::new());
                    error.set(None);
                    note.set(Some(
                        "Your password is changed; your other sessions have ended.".into(),
                    ));
                }
                Err(e) => {
                    note.set(None);
                    error.set(Some(e.message));
                }
            }
        });
    };

    let on_change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send(Some(ChangePassword {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        }));
    };

    view! {
        <details class="sc-account">
            <summary class="sc-account__toggle">
                <span class="sc-visually-hidden">"Account: "</span>
                {children()}
            </summary>
            <div class="sc-account__panel">
                <form class="sc-form sc-account__form" on:submit=on_change>
                    <div class="sc-form__field">
                        <label for="sc-account-current">"Current password"</label>
                        <input
                            id="sc-account-current"
                            type="password"
                            autocomplete="current-password"
                            required
                            bind:value=current
                        />
                    </div>
                    <div class="sc-form__field">
                        <label for="sc-account-new">"New password"</label>
                        <input
                            id="sc-account-new"
                            type="password"
                            autocomplete="new-password"
                            aria-describedby="sc-account-rules"
                            required
                            bind:value=new
                        />
                        <small id="sc-account-rules" class="sc-form__hint">
                            {PASSWORD_RULES}
                        </small>
                    </div>
                    {move || note.get().map(|n| view! { <p role="status">{n}</p> })}
                    {move || {
                        error.get().map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })
                    }}
                    <button class="sc-button" type="submit" disabled=busy>
                        "Change password"
                    </button>
                </form>
                <button
                    class="sc-button sc-button--quiet"
                    type="button"
                    disabled=busy
                    on:click=move |_| send(None)
                >
                    "Sign out everywhere"
                </button>
            </div>
        </details>
    }
}
