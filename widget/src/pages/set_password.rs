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

    let submit = Action::new_local(|req: &SetPassword| {
        let req = req.clone();
        async move { api::set_password(&req).await }
    });
    let error = move || submit.value().get().and_then(Result::err);
    Effect::new(move |_| {
        if let Some(Ok(me)) = submit.value().get() {
            auth.me.set(Some(Some(me)));
            nav.push(AFTER);
        }
    });

    let form = move |token: String| {
        let on_submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            submit.dispatch(SetPassword {
                token: token.clone(),
                password: password.get_untracked(),
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
                <Show when=move || error().is_some()>
                    <p class="sc-form__error" role="alert">
                        {move || error().map(|e| e.message)}
                    </p>
                </Show>
                <button class="sc-button" type="submit" disabled=move || submit.pending().get()>
                    {move || if submit.pending().get() { "Setting password…" } else { "Set password" }}
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
