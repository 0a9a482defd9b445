//! Onboarding's pages: the public marketing page (`/socialconnect`), the Thank You screen
//! with the chat to support, support's list of sign-up requests, and the header's
//! quick-launch menu that leads to them. Chat text comes from people outside the brand's
//! control: it is only ever rendered as text.

use super::Shell;
use crate::api;
use crate::state::use_auth;
use gloo_net::http::Method;
use leptos::prelude::*;
use shared::onboarding::{
    ChatAuthor, ChatMessage, ChatPost, MARKETING_PATH, SUPPORT_PATH, SignupChat, SignupRequest,
    SignupStatus, THANK_YOU_PATH, clean_account_number, clean_chat_text, login_href,
};
use shared::{ApiError, ErrorCode, Role};

const EVENTS: &str = "/api/onboarding/events";

/// `POST /api/onboarding/signup`: the account's request, made if it has none.
async fn sign_up() -> Result<SignupRequest, ApiError> {
    api::send(Method::POST, "/api/onboarding/signup", &()).await
}

/// The account's request, making it when there is none yet (someone who came through
/// the sign-in page from the marketing page lands here without one).
async fn ensure_request() -> Result<SignupRequest, ApiError> {
    match api::get::<SignupRequest>("/api/onboarding/signup").await {
        Err(e) if e.code == ErrorCode::NotFound => sign_up().await,
        other => other,
    }
}

async fn chat(id: i64) -> Result<SignupChat, ApiError> {
    api::get(&format!("/api/onboarding/requests/{id}")).await
}

async fn write(id: i64, text: String) -> Result<ChatMessage, ApiError> {
    api::send(
        Method::POST,
        &format!("/api/onboarding/requests/{id}/messages"),
        &ChatPost { text },
    )
    .await
}

async fn enable(id: i64) -> Result<SignupRequest, ApiError> {
    api::send(
        Method::POST,
        &format!("/api/onboarding/requests/{id}/enable"),
        &(),
    )
    .await
}

/// Only links the server made, and only to http(s) or this site.
fn safe_link(link: &str) -> Option<String> {
    let ok = link.starts_with("https://")
        || link.starts_with("http://")
        || shared::onboarding::safe_next_path(link).is_some();
    ok.then(|| link.to_owned())
}

/// The header's quick-launch menu: SocialConnect's marketing page for brand users, the
/// sign-up requests for support.
#[component]
pub fn QuickLaunch() -> impl IntoView {
    let auth = use_auth();
    let open = RwSignal::new(false);
    let is_support = move || auth.is_support() == Some(true);
    view! {
        <div
            class="sc-quick"
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    open.set(false);
                }
            }
        >
            <button
                type="button"
                class="sc-quick__toggle"
                aria-haspopup="true"
                aria-expanded=move || open.get().to_string()
                aria-controls="sc-quick-menu"
                on:click=move |_| open.update(|o| *o = !*o)
            >
                "Quick launch"
            </button>
            <Show when=move || open.get()>
                <ul id="sc-quick-menu" class="sc-quick__menu" on:click=move |_| open.set(false)>
                    <Show
                        when=is_support
                        fallback=|| {
                            view! {
                                <li>
                                    <a href=MARKETING_PATH>
                                        <span class="sc-quick__name">"SocialConnect"</span>
                                    </a>
                                </li>
                            }
                        }
                    >
                        <li>
                            <a href=SUPPORT_PATH>"Sign-up requests"</a>
                        </li>
                    </Show>
                </ul>
            </Show>
        </div>
    }
}

/// The public marketing page: what SocialConnect does, then `Sign Up` for someone signed
/// in, or the account number and `Proceed to Login` for someone who is not.
#[component]
pub fn MarketingPage() -> impl IntoView {
    let auth = use_auth();
    let nav = crate::nav::use_nav();
    let signup = Action::new_local(|_: &()| sign_up());
    Effect::new(move |_| {
        if let Some(Ok(_)) = signup.value().get() {
            nav.push(THANK_YOU_PATH);
        }
    });
    let account = RwSignal::new(String::new());
    let account_error = RwSignal::new(None::<&'static str>);
    let proceed = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match clean_account_number(&account.get_untracked()) {
            Ok(n) => nav.push(&login_href(&n)),
            Err(e) => account_error.set(Some(e)),
        }
    };
    let signup_error = move || {
        signup
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.message)
    };

    let action = move || match auth.me.get() {
        None => view! { <p class="sc-onb__muted">"Checking who you are…"</p> }.into_any(),
        Some(Some(me)) if me.role == Role::Support => view! {
            <p>"You are signed in as support staff."</p>
            <a href=SUPPORT_PATH>"See sign-up requests"</a>
        }
        .into_any(),
        Some(Some(me)) => {
            let account = me.account.clone();
            let enabled = account.as_ref().is_some_and(|a| a.socialconnect_enabled);
            let name = account.map(|a| format!("{} (account {})", a.name, a.number));
            view! {
                <p>
                    {match (enabled, name) {
                        (true, Some(n)) => format!("SocialConnect is already on for {n}. Sign up to talk to support about it."),
                        (false, Some(n)) => format!("Sign up {n} and support will set SocialConnect up for you."),
                        (_, None) => String::new(),
                    }}
                </p>
                <button
                    class="sc-button sc-onb__cta"
                    type="button"
                    disabled=move || signup.pending().get()
                    on:click=move |_| {
                        signup.dispatch(());
                    }
                >
                    "Sign Up"
                </button>
                <Show when=move || signup_error().is_some()>
                    <p class="sc-form__error" role="alert">{signup_error}</p>
                </Show>
            }
            .into_any()
        }
        Some(None) => view! {
        <form class="sc-form sc-onb__form" on:submit=proceed aria-labelledby="onb-start">
            <h2 id="onb-start">"Get started"</h2>
            <div class="sc-form__field">
                <label for="onb-account">"Account number"</label>
                <input
                    id="onb-account"
                    type="text"
                    name="account"
                    inputmode="numeric"
                    autocomplete="organization"
                    maxlength=shared::onboarding::ACCOUNT_NUMBER_MAX
                    aria-describedby="onb-account-hint"
                    bind:value=account
                    on:input=move |_| account_error.set(None)
                />
                <small id="onb-account-hint" class="sc-form__hint">
                    "Your contact center's account number; you sign in next."
                </small>
            </div>
            <Show when=move || account_error.get().is_some()>
                <p class="sc-form__error" role="alert">{move || account_error.get()}</p>
            </Show>
            <button class="sc-button sc-onb__cta" type="submit">
                "Proceed to Login"
            </button>
        </form>
        }
        .into_any(),
    };

    view! {
        <div class="sc-onb">
            <header class="sc-onb__bar">
                <span class="sc-onb__brand">"SocialConnect"</span>
                {move || match auth.signed_in() {
                    Some(true) => view! { <a href="/workspace">"Back to the workspace"</a> }.into_any(),
                    _ => view! { <a href="/login">"Sign in"</a> }.into_any(),
                }}
            </header>
            <main class="sc-onb__main" id="main">
                <section class="sc-onb__hero" aria-labelledby="onb-title">
                    <h1 id="onb-title">"Customer care on Facebook and Twitter/X"</h1>
                    <p class="sc-onb__lead">
                        "Your customers write on your Facebook page, in Messenger, in posts that "
                        "mention you on X and in Direct Messages. SocialConnect brings every one "
                        "of them into the agent workspace your team already uses."
                    </p>
                    <div class="sc-onb__action">{action}</div>
                </section>
                <section class="sc-onb__features" aria-labelledby="onb-features">
                    <h2 id="onb-features">"What your agents get"</h2>
                    <ul class="sc-onb__list">
                        <li>
                            <h3>"One queue"</h3>
                            <p>"Posts, comments, mentions, threads, Messenger and Direct Messages, each tagged public or private."</p>
                        </li>
                        <li>
                            <h3>"Answer where they wrote"</h3>
                            <p>"Reply in public, or move to private with one click — counted as each network counts."</p>
                        </li>
                        <li>
                            <h3>"Images both ways"</h3>
                            <p>"See what customers send; send images and GIFs back."</p>
                        </li>
                        <li>
                            <h3>"Set up in minutes"</h3>
                            <p>"Your admin links pages and accounts in SocialConnect Home; support helps you start."</p>
                        </li>
                    </ul>
                </section>
            </main>
        </div>
    }
}

/// Subscribes to onboarding's live events while the calling page lives.
fn use_signup_live() -> crate::live::UseLiveReturn {
    crate::live::use_live_at(EVENTS)
}

/// The Thank You screen: the account's request, its status, the link to SocialConnect
/// Home once support enabled it, and the chat with support.
#[component]
pub fn ThankYouPage() -> impl IntoView {
    let auth = use_auth();
    let live = use_signup_live();
    let request = RwSignal::new(None::<Result<SignupRequest, ApiError>>);
    leptos::task::spawn_local(async move {
        request.set(Some(ensure_request().await));
    });
    let id = Memo::new(move |_| {
        request.with(|r| r.as_ref().and_then(|r| r.as_ref().ok().map(|r| r.id)))
    });
    let refresh = RwSignal::new(0u64);
    let loaded = crate::state::load(move || {
        live.changes.track();
        refresh.track();
        let id = id.get();
        async move {
            match id {
                Some(id) => chat(id).await.ok(),
                None => None,
            }
        }
    });
    let current = Signal::derive(move || loaded.get().flatten());
    let enabled = Memo::new(move |_| {
        current.with(|c| {
            c.as_ref()
                .is_some_and(|c| c.request.status == SignupStatus::Enabled)
        })
    });
    // Once enabled, the signed-in account is too. Untracked: setting `auth.me` rebuilds
    // every protected page (this one included), which would start it all over again.
    Effect::new(move |_| {
        if enabled.get() {
            auth.me.update_untracked(|m| {
                if let Some(Some(me)) = m
                    && let Some(a) = &mut me.account
                {
                    a.socialconnect_enabled = true;
                }
            });
        }
    });
    let error = move || {
        request.with(|r| {
            r.as_ref()
                .and_then(|r| r.as_ref().err().map(|e| e.message.clone()))
        })
    };
    let is_admin = move || auth.is_admin() == Some(true);

    view! {
        <Shell title="Thank you">
            <div class="sc-onb-thanks">
                <Show when=move || error().is_some()>
                    <p class="sc-form__error" role="alert">{error}</p>
                </Show>
                {move || {
                    current
                        .get()
                        .map(|c| {
                            let r = c.request;
                            view! {
                                <section class="sc-onb-thanks__status" aria-label="Your sign-up">
                                    <p class="sc-onb__lead">
                                        {format!(
                                            "Thank you for signing up {} (account {}) for SocialConnect.",
                                            r.account_name,
                                            r.account_number,
                                        )}
                                    </p>
                                    <p>
                                        "Status: "
                                        <strong class=format!(
                                            "sc-onb-status sc-onb-status--{}",
                                            r.status.as_str(),
                                        )>{r.status.label()}</strong>
                                    </p>
                                    {r
                                        .home_url
                                        .as_deref()
                                        .and_then(safe_link)
                                        .map(|home| {
                                            view! {
                                                <p class="sc-onb-thanks__ready">
                                                    "SocialConnect is enabled. "
                                                    <Show
                                                        when=is_admin
                                                        fallback=|| "Your admin can now open SocialConnect Home."
                                                    >
                                                        <a class="sc-button" href=home.clone()>
                                                            "Open SocialConnect Home"
                                                        </a>
                                                    </Show>
                                                </p>
                                            }
                                        })}
                                </section>
                            }
                        })
                }}
                <ChatWindow
                    chat=current
                    label="Message to support"
                    on_sent=Callback::new(move |()| refresh.update(|n| *n += 1))
                />
            </div>
        </Shell>
    }
}

/// A sign-up request's chat: the transcript (live) and a box to write in.
#[component]
fn ChatWindow(
    /// The request and its messages; `None` while loading.
    #[prop(into)]
    chat: Signal<Option<SignupChat>>,
    /// The compose box's label.
    label: &'static str,
    /// Called after a message was stored.
    on_sent: Callback<()>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let send = Action::new_local(|(id, text): &(i64, String)| write(*id, text.clone()));
    Effect::new(move |_| match send.value().get() {
        Some(Ok(_)) => {
            text.set(String::new());
            problem.set(None);
            on_sent.run(());
        }
        Some(Err(e)) => problem.set(Some(e.message)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(id) = chat.with_untracked(|c| c.as_ref().map(|c| c.request.id)) else {
            return;
        };
        match clean_chat_text(&text.get_untracked()) {
            Ok(t) => {
                send.dispatch((id, t));
            }
            Err(e) => problem.set(Some(e)),
        }
    };
    let messages =
        move || chat.with(|c| c.as_ref().map(|c| c.messages.clone()).unwrap_or_default());
    // Keep the newest message in sight, as chats do.
    let log = NodeRef::<leptos::html::Ol>::new();
    Effect::new(move |_| {
        chat.track();
        request_animation_frame(move || {
            if let Some(el) = log.get_untracked() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });
    view! {
        <section class="sc-chat" aria-labelledby="sc-chat-title">
            <h2 id="sc-chat-title" class="sc-chat__title">"Chat with support"</h2>
            <ol
                class="sc-chat__log"
                role="log"
                aria-live="polite"
                aria-label="Messages"
                node_ref=log
            >
                <For each=messages key=|m| m.id let:m>
                    <ChatLine m />
                </For>
            </ol>
            <form class="sc-chat__compose" on:submit=submit>
                <label for="sc-chat-text">{label}</label>
                <textarea
                    id="sc-chat-text"
                    rows="3"
                    maxlength=shared::onboarding::CHAT_MAX_CHARS
                    bind:value=text
                ></textarea>
                <Show when=move || problem.get().is_some()>
                    <p class="sc-form__error" role="alert">{move || problem.get()}</p>
                </Show>
                <button
                    class="sc-button"
                    type="submit"
                    disabled=move || send.pending().get() || chat.with(Option::is_none)
                >
                    "Send"
                </button>
            </form>
        </section>
    }
}

#[component]
fn ChatLine(m: ChatMessage) -> impl IntoView {
    let class = format!("sc-chat__msg sc-chat__msg--{}", m.author.as_str());
    let who = match m.author {
        ChatAuthor::Support => format!("{} (support)", m.author_name),
        _ => m.author_name.clone(),
    };
    let link = m.link.as_deref().and_then(safe_link);
    view! {
        <li class=class>
            <span class="sc-chat__who">{who}</span>
            <time class="sc-chat__time" datetime=m.created_at.clone()>
                {shared::api::display_time(&m.created_at)}
            </time>
            // Text, never markup: Leptos sets it as a text node.
            <p class="sc-chat__text">{m.text}</p>
            {link.map(|href| view! { <a class="sc-chat__link" href=href.clone()>{href.clone()}</a> })}
        </li>
    }
}

/// Support's workspace for sign-ups: every request, and the chosen one's chat with
/// `Enable`.
#[component]
pub fn SupportSignupsPage() -> impl IntoView {
    let live = use_signup_live();
    let nav = crate::nav::use_nav();
    let selected = Memo::new(move |_| nav.query("request").and_then(|s| s.parse::<i64>().ok()));
    let refresh = RwSignal::new(0u64);
    let list = crate::state::load(move || {
        live.changes.track();
        refresh.track();
        async move {
            api::get::<Vec<SignupRequest>>("/api/onboarding/requests")
                .await
                .unwrap_or_default()
        }
    });
    let loaded = crate::state::load(move || {
        live.changes.track();
        refresh.track();
        let id = selected.get();
        async move {
            match id {
                Some(id) => chat(id).await.ok(),
                None => None,
            }
        }
    });
    let current = Signal::derive(move || loaded.get().flatten());
    let enabling = Action::new_local(|id: &i64| enable(*id));
    Effect::new(move |_| {
        if let Some(Ok(_)) = enabling.value().get() {
            refresh.update(|n| *n += 1);
        }
    });
    let enable_error = move || {
        enabling
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.message)
    };
    let requests = move || list.get().unwrap_or_default();

    view! {
        <Shell title="Sign-up requests">
            <div class="sc-onb-support">
                <nav class="sc-onb-support__list" aria-label="Sign-up requests">
                    <Show
                        when=move || !requests().is_empty()
                        fallback=|| view! { <p class="sc-empty">"No sign-up requests yet."</p> }
                    >
                        <ul>
                            <For
                                each=requests
                                key=|r| (r.id, r.status, r.messages)
                                let:r
                            >
                                <li class:sc-onb-support__item--current=move || selected.get() == Some(r.id)>
                                    <a href=format!("{SUPPORT_PATH}?request={}", r.id)>
                                        {format!("{} · {}", r.account_name, r.account_number)}
                                    </a>
                                    <span class=format!(
                                        "sc-onb-status sc-onb-status--{}",
                                        r.status.as_str(),
                                    )>{r.status.label()}</span>
                                    <Show when=move || r.last_author == Some(ChatAuthor::Brand)>
                                        <span class="sc-onb-support__waiting">"Awaiting reply"</span>
                                    </Show>
                                </li>
                            </For>
                        </ul>
                    </Show>
                </nav>
                <div class="sc-onb-support__detail">
                    {move || match current.get() {
                        None => view! { <p class="sc-onb__muted">"Choose a request."</p> }.into_any(),
                        Some(c) => {
                            let r = c.request;
                            let id = r.id;
                            let is_enabled = r.status == SignupStatus::Enabled;
                            view! {
                                <section class="sc-onb-support__head" aria-label="Request">
                                    <h2>{format!("{} — account {}", r.account_name, r.account_number)}</h2>
                                    <p>
                                        {format!(
                                            "Requested {} by {}",
                                            shared::api::display_time(&r.created_at),
                                            r.requested_by.unwrap_or_else(|| "someone no longer here".into()),
                                        )}
                                    </p>
                                    <p>
                                        "Status: "
                                        <strong class=format!(
                                            "sc-onb-status sc-onb-status--{}",
                                            r.status.as_str(),
                                        )>{r.status.label()}</strong>
                                        {r.home_url.map(|h| format!(" — link sent: {h}"))}
                                    </p>
                                    <Show when=move || !is_enabled>
                                        <button
                                            class="sc-button"
                                            type="button"
                                            disabled=move || enabling.pending().get()
                                            on:click=move |_| {
                                                enabling.dispatch(id);
                                            }
                                        >
                                            "Enable"
                                        </button>
                                    </Show>
                                    <Show when=move || enable_error().is_some()>
                                        <p class="sc-form__error" role="alert">{enable_error}</p>
                                    </Show>
                                </section>
                            }
                            .into_any()
                        }
                    }}
                    <Show when=move || selected.get().is_some()>
                        <ChatWindow
                            chat=current
                            label="Reply"
                            on_sent=Callback::new(move |()| refresh.update(|n| *n += 1))
                        />
                    </Show>
                </div>
            </div>
        </Shell>
    }
}
