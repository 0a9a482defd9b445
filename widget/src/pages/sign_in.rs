//! The sign-in page: account number, email, password; and, for an account with single
//! sign-on, the way to its provider (whose refusals come back here as `?error=`).

use crate::{api, state::use_auth};
use leptos::prelude::*;
use shared::api::{SignIn, SignInOptions};
use shared::onboarding::encode_component;

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
    // How the account typed signs in, asked once the field is left (not per keystroke).
    let options = RwSignal::new(None::<(String, SignInOptions)>);
    let look_up = move || {
        let number = account.get_untracked().trim().to_owned();
        if options.with_untracked(|o| o.as_ref().map(|(n, _)| n) == Some(&number)) {
            return;
        }
        options.set(None);
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return;
        }
        leptos::task::spawn_local(async move {
            let path = format!("/api/sso?account={number}");
            if let Ok(found) = api::get::<SignInOptions>(&path).await
                && account.get_untracked().trim() == number
            {
                options.set(Some((number, found)));
            }
        });
    };
    look_up();
    let sso = move || options.with(|o| o.as_ref().is_some_and(|(_, o)| o.sso));
    let passwords = move || options.with(|o| o.as_ref().is_none_or(|(_, o)| o.password));
    let sso_href = move || {
        format!(
            "/sso/start?account={}&login_hint={}",
            encode_component(account.get().trim()),
            encode_component(email.get().trim())
        )
    };
    // A refusal from the single sign-on flow.
    let refused = nav.query_untracked("error");

    let submit = Action::new_local(|req: &SignIn| {
        let req = req.clone();
        async move { api::sign_in(&req).await }
    });
    let error = move || {
        submit
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.message)
            .or_else(|| refused.clone())
    };

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
                        on:change=move |_| look_up()
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
                <Show when=sso>
                    <a class="sc-button sc-sign-in__sso" rel="external" href=sso_href>
                        "Sign in with single sign-on"
                    </a>
                </Show>
                <Show when=passwords>
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
                </Show>
                {move || error().map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })}
                <Show when=passwords>
                    <button
                        class="sc-button"
                        type="submit"
                        disabled=move || submit.pending().get()
                    >
                        {move || if submit.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </Show>
            </form>
        </main>
    }
}
