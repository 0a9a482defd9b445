//! SocialConnect Home's Single sign-on section: the brand's OpenID Connect provider
//! (issuer, client id and secret), whether passwords still work, and the redirect URI to
//! register at the provider.

use crate::api;
use gloo_net::http::Method;
use leptos::prelude::*;
use shared::ApiError;
use shared::home::{SetSso, SsoConfig};

/// Saves (`Some`) or removes (`None`) the settings; what they are now.
async fn apply(set: Option<SetSso>) -> Result<Option<SsoConfig>, ApiError> {
    let answer = match &set {
        Some(set) => api::fetch(Method::PUT, "/api/home/sso", Some(api::json(set))).await?,
        None => api::fetch(Method::DELETE, "/api/home/sso", Some("null".into())).await?,
    };
    match set {
        Some(_) => api::parse(&answer).map(Some),
        None => Ok(None),
    }
}

/// The Single sign-on section. Changes also fetch Home's overview again (`refresh`), whose
/// audit log records them.
#[component]
pub fn SingleSignOn(
    /// Bumped after a change, to fetch Home's overview again.
    refresh: RwSignal<u64>,
) -> impl IntoView {
    let issuer = RwSignal::new(String::new());
    let client_id = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let passwords = RwSignal::new(true);
    let config = RwSignal::new(None::<SsoConfig>);
    let note = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let show = move |c: SsoConfig| {
        issuer.set(c.issuer.clone());
        client_id.set(c.client_id.clone());
        secret.set(String::new());
        passwords.set(c.password_sign_in);
        config.set(Some(c));
    };
    leptos::task::spawn_local(async move {
        match api::get::<SsoConfig>("/api/home/sso").await {
            Ok(c) => show(c),
            Err(e) => error.set(Some(e.message)),
        }
    });

    let change = move |set: Option<SetSso>| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = apply(set).await;
            busy.set(false);
            match result {
                Ok(Some(c)) => {
                    error.set(None);
                    note.set(Some("Single sign-on is saved.".into()));
                    show(c);
                }
                Ok(None) => {
                    error.set(None);
                    note.set(Some("Single sign-on is removed.".into()));
                    config.update(|c| {
                        if let Some(c) = c {
                            c.configured = false;
                            c.password_sign_in = true;
                        }
                    });
                    issuer.set(String::new());
                    client_id.set(String::new());
                    secret.set(String::new());
                    passwords.set(true);
                }
                Err(e) => {
                    note.set(None);
                    error.set(Some(e.message));
                }
            }
            refresh.update(|n| *n += 1);
        });
    };
    let configured = move || config.with(|c| c.as_ref().is_some_and(|c| c.configured));

    let on_save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let s = secret.get_untracked().trim().to_owned();
        change(Some(SetSso {
            issuer: issuer.get_untracked().trim().to_owned(),
            client_id: client_id.get_untracked().trim().to_owned(),
            client_secret: (!s.is_empty()).then_some(s),
            password_sign_in: passwords.get_untracked(),
        }));
    };

    view! {
        <section class="sc-home__section sc-sso" aria-labelledby="sc-home-sso">
            <h2 id="sc-home-sso">"Single sign-on"</h2>
            <p class="sc-home__hint">
                "Your people sign in through your company's OpenID Connect provider; each is matched by their verified email to a person below."
            </p>
            {move || note.get().map(|n| view! { <p class="sc-home__note" role="status">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })}
            <form class="sc-form sc-sso__form" on:submit=on_save>
                <div class="sc-form__field">
                    <label for="sc-sso-issuer">"Issuer"</label>
                    <input
                        id="sc-sso-issuer"
                        type="url"
                        autocomplete="off"
                        placeholder="https://login.example.com"
                        required
                        bind:value=issuer
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sc-sso-client">"Client ID"</label>
                    <input
                        id="sc-sso-client"
                        type="text"
                        autocomplete="off"
                        required
                        bind:value=client_id
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sc-sso-secret">"Client secret"</label>
                    <input
                        id="sc-sso-secret"
                        type="password"
                        autocomplete="new-password"
                        placeholder=move || configured().then_some("stored — leave empty to keep")
                        bind:value=secret
                    />
                </div>
                <label class="sc-home__check">
                    <input type="checkbox" bind:checked=passwords />
                    "Allow password sign-in"
                </label>
                {move || {
                    config
                        .with(|c| c.as_ref().map(|c| c.redirect_uri.clone()))
                        .map(|uri| {
                            view! {
                                <p class="sc-home__hint">
                                    "Redirect URI to register at your provider: "
                                    <code class="sc-sso__uri">{uri}</code>
                                </p>
                            }
                        })
                }}
                <div class="sc-home__actions">
                    <button
                        class="sc-button"
                        type="submit"
                        aria-label="Save single sign-on"
                        disabled=busy
                    >
                        "Save"
                    </button>
                    <Show when=configured>
                        <button
                            class="sc-button sc-button--danger"
                            type="button"
                            aria-label="Remove single sign-on"
                            disabled=busy
                            on:click=move |_| change(None)
                        >
                            "Remove"
                        </button>
                    </Show>
                </div>
            </form>
        </section>
    }
}
