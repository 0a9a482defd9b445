//! SocialConnect Home's LiveEngage section: the brand's LiveEngage account and connector
//! app (account id, client id and secret), our skills' LiveEngage skill ids, and the
//! webhook URL to set in the app's installation.

use crate::api;
use gloo_net::http::Method;
use leptos::prelude::*;
use shared::ApiError;
use shared::liveengage::{LiveEngageConfig, SetLiveEngage};

/// Saves (`Some`) or removes (`None`) the connection; what it is now.
async fn apply(set: Option<SetLiveEngage>) -> Result<Option<LiveEngageConfig>, ApiError> {
    let path = "/api/home/liveengage";
    match set {
        Some(set) => {
            let answer = api::fetch(Method::PUT, path, Some(api::json(&set))).await?;
            api::parse(&answer).map(Some)
        }
        None => api::fetch(Method::DELETE, path, Some("null".into()))
            .await
            .map(|_| None),
    }
}

/// The LiveEngage section. Changes also fetch Home's overview again (`refresh`), whose
/// audit log records them.
#[component]
pub fn LiveEngage(
    /// Bumped after a change, to fetch Home's overview again.
    refresh: RwSignal<u64>,
) -> impl IntoView {
    let account = RwSignal::new(String::new());
    let client_id = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let skills = RwSignal::new(String::new());
    let config = RwSignal::new(None::<LiveEngageConfig>);
    let note = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let show = move |c: LiveEngageConfig| {
        account.set(c.le_account_id.clone());
        client_id.set(c.client_id.clone());
        skills.set(c.skills.clone());
        secret.set(String::new());
        config.set(Some(c));
    };
    leptos::task::spawn_local(async move {
        match api::get::<LiveEngageConfig>("/api/home/liveengage").await {
            Ok(c) => show(c),
            Err(e) => error.set(Some(e.message)),
        }
    });

    let change = move |set: Option<SetLiveEngage>| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = apply(set).await;
            busy.set(false);
            match result {
                Ok(saved) => {
                    error.set(None);
                    let removed = saved.is_none();
                    note.set(Some(
                        if removed {
                            "LiveEngage is disconnected."
                        } else {
                            "LiveEngage is connected."
                        }
                        .into(),
                    ));
                    match saved {
                        Some(c) => show(c),
                        None => config.update(|c| {
                            if let Some(c) = c {
                                c.configured = false;
                            }
                        }),
                    }
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
        change(Some(SetLiveEngage {
            le_account_id: account.get_untracked().trim().to_owned(),
            client_id: client_id.get_untracked().trim().to_owned(),
            client_secret: (!s.is_empty()).then_some(s),
            skills: skills.get_untracked(),
        }));
    };

    view! {
        <section class="sc-home__section sc-sso" aria-labelledby="sc-home-le">
            <h2 id="sc-home-le">"LiveEngage"</h2>
            <p class="sc-home__hint">
                "Your conversations go into LiveEngage's agent workspace through your installed connector app, and its agents' messages come back as replies."
            </p>
            {move || note.get().map(|n| view! { <p class="sc-home__note" role="status">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })}
            <form class="sc-form sc-sso__form" on:submit=on_save>
                <div class="sc-form__field">
                    <label for="sc-le-account">"LiveEngage account id"</label>
                    <input
                        id="sc-le-account"
                        type="text"
                        inputmode="numeric"
                        autocomplete="off"
                        required
                        bind:value=account
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sc-le-client">"LiveEngage client ID"</label>
                    <input
                        id="sc-le-client"
                        type="text"
                        autocomplete="off"
                        required
                        bind:value=client_id
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sc-le-secret">"LiveEngage client secret"</label>
                    <input
                        id="sc-le-secret"
                        type="password"
                        autocomplete="new-password"
                        placeholder=move || configured().then_some("stored — leave empty to keep")
                        bind:value=secret
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sc-le-skills">"LiveEngage skill ids"</label>
                    <input
                        id="sc-le-skills"
                        type="text"
                        autocomplete="off"
                        placeholder="social=123, vip=456"
                        bind:value=skills
                    />
                </div>
                {move || {
                    config
                        .with(|c| c.as_ref().map(|c| c.webhook_url.clone()))
                        .map(|url| {
                            view! {
                                <p class="sc-home__hint">
                                    "Webhook URL for the app's installation: "
                                    <code class="sc-sso__uri">{url}</code>
                                </p>
                            }
                        })
                }}
                <div class="sc-home__actions">
                    <button
                        class="sc-button"
                        type="submit"
                        aria-label="Save LiveEngage"
                        disabled=busy
                    >
                        "Save"
                    </button>
                    <Show when=configured>
                        <button
                            class="sc-button sc-button--danger"
                            type="button"
                            aria-label="Remove LiveEngage"
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
