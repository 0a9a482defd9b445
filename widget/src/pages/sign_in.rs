//! The sign-in page: account number, email, password.

use crate::{api, state::use_auth};
use leptos::prelude::*;
use shared::api::SignIn;

#[component]
pub fn SignInPage() -> impl IntoView {
    let auth = use_auth();
    let nav = crate::nav::use_nav();
    // Coming from the marketing page: the account number filled in, and where to go
    // after signing in (a path on this site only).
    let account = RwSignal::new(
        nav.query_untracked("account")
            .and_then(|a| shared::onboarding::clean_account_number(&a).ok())
            .unwrap_or_default(),
    );
    let next = nav
        .query_untracked("next")
        .and_then(|n| shared::onboarding::safe_next_path(&n).map(str::to_owned))
        .unwrap_or_else(|| "/workspace".to_owned());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());

    let submit = Action::new_local(|req: &SignIn| {
        let req = req.clone();
        async move { api::sign_in(&req).await }
    });
    let error = move || submit.value().get().and_then(Result::err);

    Effect::new(move |_| {
        if let Some(Ok(me)) = submit.value().get() {
            auth.me.set(Some(Some(me)));
            nav.push(&next);
        }
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.dispatch(SignIn {
            account_number: account.get_untracked(),
            email: email.get_untracked(),
            password: password.get_untracked(),
        });
    };

    view! {
        <main class="sc-public">
            <form class="sc-form" on:submit=on_submit aria-labelledby="sign-in-title">
                <h1 id="sign-in-title">"Sign in to SocialConnect"</h1>
                <div class="sc-form__field">
                    <label for="sign-in-account">"Account number"</label>
                    <input
                        id="sign-in-account"
                        type="text"
                        name="account"
                        inputmode="numeric"
                        autocomplete="organization"
                        aria-describedby="sign-in-account-hint"
                        bind:value=account
                    />
                    <small id="sign-in-account-hint" class="sc-form__hint">
                        "Support staff leave this empty."
                    </small>
                </div>
                <div class="sc-form__field">
                    <label for="sign-in-email">"Email"</label>
                    <input
                        id="sign-in-email"
                        type="email"
                        name="email"
                        autocomplete="username"
                        required
                        bind:value=email
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sign-in-password">"Password"</label>
                    <input
                        id="sign-in-password"
                        type="password"
                        name="password"
                        autocomplete="current-password"
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
                    {move || if submit.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </main>
    }
}
