//! SocialConnect Home's LiveEngage section: the brand's LiveEngage account and connector
//! app (account id, client id and secret), our skills' LiveEngage skill ids, and the
//! webhook URL to set in the app's installation.

use super::section::{Words, messages, use_section};
use leptos::prelude::*;
use shared::liveengage::{LiveEngageConfig, SetLiveEngage};

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
    let words = Words {
        saved: "LiveEngage is connected.",
        removed: "LiveEngage is disconnected.",
    };
    let (section, change) = use_section::<SetLiveEngage, LiveEngageConfig>(
        "/api/home/liveengage",
        words,
        refresh,
        move |c| {
            account.set(c.le_account_id);
            client_id.set(c.client_id);
            skills.set(c.skills);
            secret.set(String::new());
        },
        |config| {
            config.update(|c| {
                if let Some(c) = c {
                    c.configured = false;
                }
            })
        },
    );
    let (config, busy) = (section.config, section.busy);
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
            {messages(section)}
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
