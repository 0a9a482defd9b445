//! The app's pages and the shell around the signed-in ones.

mod account;
mod home;
mod onboarding;
mod set_password;
mod sign_in;
mod workspace;

pub use home::{Home, People};
pub use onboarding::{MarketingPage, SupportSignupsPage, ThankYouPage};
pub use set_password::SetPasswordPage;
pub use sign_in::SignInPage;
pub use workspace::Workspace;

use crate::nav::{NavLink, use_nav};
use crate::{api, state::use_auth};
use leptos::prelude::*;

/// The frame around every signed-in page: product name, navigation for this user's role,
/// who is signed in, their account menu (password, sign-out everywhere), and sign-out.
#[component]
fn Shell(
    /// The page's heading.
    title: &'static str,
    /// The page fills the window and scrolls inside its own columns (the workspace); its
    /// heading is then for assistive technology only.
    #[prop(optional)]
    full: bool,
    children: Children,
) -> impl IntoView {
    let auth = use_auth();
    let nav = use_nav();
    let sign_out = Action::new_local(move |_: &()| async move { api::sign_out().await });
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            auth.me.set(Some(None));
            nav.push(crate::SIGN_IN_PATH);
        }
    });
    let user = move || auth.user();
    view! {
        <div class="sc-shell" class:sc-shell--full=full>
            <header class="sc-shell__bar">
                <span class="sc-shell__brand">"SocialConnect"</span>
                <nav class="sc-shell__nav" aria-label="Main">
                    <NavLink href="/workspace">"Workspace"</NavLink>
                    <NavLink href="/widget">"Social Widget"</NavLink>
                    <Show when=move || auth.is_admin() == Some(true)>
                        <NavLink href="/home">"SocialConnect Home"</NavLink>
                    </Show>
                    <onboarding::QuickLaunch />
                </nav>
                <div class="sc-shell__account">
                    <account::AccountMenu>
                        <span class="sc-shell__who">
                            {move || {
                                user()
                                    .map(|me| {
                                        let account = me
                                            .account
                                            .map(|a| a.name)
                                            .unwrap_or_else(|| "Support".into());
                                        format!("{} · {} · {}", me.name, me.role, account)
                                    })
                            }}
                        </span>
                    </account::AccountMenu>
                    <button
                        class="sc-button sc-button--quiet"
                        on:click=move |_| {
                            sign_out.dispatch(());
                        }
                    >
                        "Sign out"
                    </button>
                </div>
            </header>
            <main class="sc-shell__main" id="main">
                <h1 class="sc-shell__title" class:sc-visually-hidden=full>
                    {title}
                </h1>
                {children()}
            </main>
        </div>
    }
}

/// Gives the focus to the element `id` once the page is drawn again.
pub fn focus_later(id: String) {
    request_animation_frame(move || {
        if let Some(el) = document().get_element_by_id(&id) {
            use wasm_bindgen::JsCast;
            let _ = el.unchecked_into::<web_sys::HtmlElement>().focus();
        }
    });
}

/// The public front page.
#[component]
pub fn Landing() -> impl IntoView {
    let auth = use_auth();
    view! {
        <main class="sc-public">
            <h1>"SocialConnect"</h1>
            <p class="sc-public__lead">
                "Answer your customers on Facebook and Twitter/X — posts, comments, mentions, "
                "threads, Messenger and Direct Messages — from one agent workspace."
            </p>
            {move || match auth.signed_in() {
                Some(true) => view! { <a href="/workspace">"Open the workspace"</a> }.into_any(),
                _ => view! { <a href="/login">"Sign in"</a> }.into_any(),
            }}
        </main>
    }
}

/// The Social Widget on its own: the page LiveEngage loads in its iframe. Framed there,
/// it loads LiveEngage's SDK, follows the conversation the agent has open in LiveEngage
/// (mapped to ours), shows who LiveEngage says the consumer is, and writes into the
/// agent's compose box through the SDK. Stand-alone (`/widget?conversation=ID`) it keeps
/// the page frame and a Reply box of its own (`WidgetReply`).
#[component]
pub fn SocialWidgetPage() -> impl IntoView {
    use crate::components::{SocialWidget, WidgetReply};
    use crate::host::{Host, liveengage};
    let live = crate::live::use_live();
    let draft = crate::state::provide_draft();
    let le = liveengage::framed().then(liveengage::use_liveengage);
    let host = match le {
        Some(_) => Host::LiveEngage,
        None => Host::Standalone(draft),
    };
    let refresh = RwSignal::new(0u64);
    let nav = use_nav();
    let selected = Memo::new(move |_| match le {
        Some(le) => le.conversation.get(),
        None => nav
            .query("conversation")
            .and_then(|s| s.parse::<i64>().ok()),
    });
    let transcript = crate::state::load(move || {
        live.changes.track();
        refresh.track();
        if let Some(le) = le {
            le.lines.track();
        }
        let id = selected.get();
        async move {
            match id {
                Some(id) => api::transcript(id).await.ok(),
                None => None,
            }
        }
    });
    // Only the open conversation's: never the last one's while the next one's loads.
    let loaded = Signal::derive(move || {
        transcript
            .get()
            .flatten()
            .filter(|t| Some(t.conversation.id) == selected.get())
    });
    let on_sent = Callback::new(move |()| refresh.update(|n| *n += 1));
    let panel = move || {
        view! {
            {le.map(|le| view! { <HostStatus le /> })}
            <SocialWidget transcript=loaded host on_sent />
            <WidgetReply
                transcript=loaded
                host
                on_sent
                typing=live.typing
                kept=Signal::derive(move || le.and_then(|le| le.kept.get()))
            />
        }
    };
    if host.is_liveengage() {
        view! { <main class="sc-widget-page">{panel()}</main> }.into_any()
    } else {
        view! { <Shell title="Social Widget">{panel()}</Shell> }.into_any()
    }
}

/// Inside LiveEngage: how the widget stands with it, and with whom the agent is talking.
#[component]
fn HostStatus(
    /// The LiveEngage connection of the page.
    le: crate::host::liveengage::UseLiveEngageReturn,
) -> impl IntoView {
    use crate::host::liveengage::Connection;
    let said = move || match le.connection.get() {
        Connection::Connecting => ("Connecting to LiveEngage…".to_owned(), false),
        Connection::Failed(why) => (why, true),
        Connection::Connected => {
            if le.le_conversation.with(String::is_empty) {
                (
                    "In LiveEngage: open a conversation there.".to_owned(),
                    false,
                )
            } else if let Some(why) = le.unmapped.get() {
                (why, true)
            } else {
                match le.visitor.get() {
                    Some(name) => (format!("In LiveEngage, talking with {name}"), false),
                    None => ("In LiveEngage".to_owned(), false),
                }
            }
        }
    };
    view! {
        <p class="sc-widget__host" role="status">
            {move || { let (text, bad) = said(); (!bad).then_some(text) }}
        </p>
        <p class="sc-compose__error" role="alert">
            {move || { let (text, bad) = said(); bad.then_some(text) }}
        </p>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="sc-public">
            <h1>"Page not found"</h1>
            <a href="/">"Go to the start page"</a>
        </main>
    }
}
