//! SocialConnect Home's Single sign-on section: the brand's OpenID Connect provider
//! (issuer, client id and secret), whether passwords still work, and the redirect URI to
//! register at the provider.

use super::section::{Words, messages, use_section};
use leptos::prelude::*;
use shared::home::{SetSso, SsoConfig};

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
    let words = Words {
        saved: "Single sign-on is saved.",
        removed: "Single sign-on is removed.",
    };
    let (section, change) = use_section::<SetSso, SsoConfig>(
        "/api/home/sso",
        words,
        refresh,
        move |c| {
            issuer.set(c.issuer);
            client_id.set(c.client_id);
            secret.set(String::new());
            passwords.set(c.password_sign_in);
        },
        move |config| {
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
        },
    );
    let (config, busy) = (section.config, section.busy);
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
            {messages(section)}
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
