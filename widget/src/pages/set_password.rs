//! The page a one-time link opens (`/set-password?token=…`): an invited person chooses
//! their password, and is signed in to the workspace.

use crate::{api, state::use_auth};
use leptos::prelude::*;
use shared::api::{PASSWORD_RULES, SetPassword};

/// Where a person lands once their password is set (the agent's bundle: a page load).
const AFTER: &str = "/workspace";

#[component]
pub fn SetPasswordPage() -> impl IntoView {
    let auth = use_auth();
    let nav = crate::nav::use_nav();
    let token = nav
        .query_untracked("token")
        .filter(|t| !t.trim().is_empty());
    let password = RwSignal::new(String::new());

    let pending = RwSignal::new(false);
    let failed = RwSignal::new(None::<String>);
    let error = move || failed.get();
    let form = move |token: String| {
        let on_submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if pending.get_untracked() {
                return;
            }
            pending.set(true);
            let req = SetPassword {
                token: token.clone(),
                password: password.get_untracked(),
            };
            leptos::task::spawn_local(async move {
                let answer = api::set_password(&req).await;
                pending.set(false);
                match answer {
                    Ok(me) => {
                        auth.me.set(Some(Some(me)));
                        nav.push(AFTER);
                    }
                    Err(e) => failed.set(Some(e.message)),
                }
            });
        };
        view! {
            <form class="sc-form" on:submit=on_submit aria-labelledby="set-password-title">
                <h1 id="set-password-title">"Choose your password"</h1>
                <p id="set-password-rules" class="sc-form__hint">{PASSWORD_RULES}</p>
                <div class="sc-form__field">
                    <label for="set-password-new">"New password"</label>
                    <input
                        id="set-password-new"
                        type="password"
                        name="new-password"
                        autocomplete="new-password"
                        aria-describedby="set-password-rules"
                        aria-invalid=move || error().is_some().to_string()
                        required
                        bind:value=password
                    />
                </div>
                {move || error().map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })}
                <button class="sc-button" type="submit" disabled=move || pending.get()>
                    "Set password"
                </button>
            </form>
        }
    };

    view! {
        <main class="sc-public">
            {match token {
                Some(token) => form(token).into_any(),
                None => {
                    view! {
                        <section class="sc-form" aria-labelledby="set-password-title">
                            <h1 id="set-password-title">"Choose your password"</h1>
                            <p role="alert" class="sc-form__error">
                                "This link is incomplete: it has no token. Open the whole link \
                                 from your invitation, or ask your admin for a new one."
                            </p>
                        </section>
                    }
                        .into_any()
                }
            }}
        </main>
    }
}
