//! The SocialConnect SPA, built as two bundles (`shared::bundles`): the agent's
//! ([`AgentApp`]: start page, sign-in, workspace, and the Social Widget page that
//! LiveEngage loads in its iframe) and the admin's ([`AdminApp`]: SocialConnect Home,
//! onboarding, support's pages, the set-password page). Each picks its page by the path
//! (`nav`) and hands the other's paths to the browser as a page load, so links between
//! them work like any link.

pub mod api;
pub mod components;
pub mod host;
pub mod live;
pub mod nav;
pub mod pages;
pub mod state;

use leptos::prelude::*;
use pages::{
    Home, Landing, MarketingPage, NotFound, SetPasswordPage, SignInPage, SocialWidgetPage,
    SupportSignupsPage, ThankYouPage, Workspace,
};
use shared::bundles::Bundle;
use shared::onboarding::{SUPPORT_PATH, THANK_YOU_PATH, encode_component};

/// Where the router sends someone who must sign in first.
pub const SIGN_IN_PATH: &str = "/login";

/// Learns who is signed in once at start; pages react when it arrives.
fn provide_session() -> state::Auth {
    let auth = state::provide_auth();
    leptos::task::spawn_local(async move {
        let me = api::session().await.unwrap_or(None);
        auth.learned_at_start(me);
    });
    auth
}

/// The agent's bundle.
#[component]
pub fn AgentApp() -> impl IntoView {
    let auth = provide_session();
    let nav = nav::provide(Bundle::Agent);
    let signed_in = Memo::new(move |_| auth.signed_in());
    let sign_in = move || nav.sign_in_and_back();
    move || match nav.path.get().as_str() {
        "/" => view! { <Landing /> }.into_any(),
        SIGN_IN_PATH => view! { <SignInPage /> }.into_any(),
        "/workspace" => nav.protect(signed_in.get(), sign_in(), || {
            view! { <Workspace /> }.into_any()
        }),
        "/widget" => nav.protect(signed_in.get(), sign_in(), || {
            view! { <SocialWidgetPage /> }.into_any()
        }),
        _ => view! { <NotFound /> }.into_any(),
    }
}

/// The admin's bundle. It has its own sign-in page, so that a protected page's redirect
/// and the way back after signing in stay inside it.
#[component]
pub fn AdminApp() -> impl IntoView {
    let auth = provide_session();
    let nav = nav::provide(Bundle::Admin);
    let signed_in = Memo::new(move |_| auth.signed_in());
    let is_admin = Memo::new(move |_| auth.is_admin());
    let is_support = Memo::new(move |_| auth.is_support());
    move || match nav.path.get().as_str() {
        SIGN_IN_PATH => view! { <SignInPage /> }.into_any(),
        shared::onboarding::MARKETING_PATH => view! { <MarketingPage /> }.into_any(),
        shared::api::SET_PASSWORD_PATH => view! { <SetPasswordPage /> }.into_any(),
        THANK_YOU_PATH => nav.protect(
            signed_in.get(),
            format!("{SIGN_IN_PATH}?next={}", encode_component(THANK_YOU_PATH)),
            || view! { <ThankYouPage /> }.into_any(),
        ),
        SUPPORT_PATH => nav.protect(is_support.get(), SIGN_IN_PATH.to_owned(), || {
            view! { <SupportSignupsPage /> }.into_any()
        }),
        "/home" => nav.protect(is_admin.get(), "/workspace".to_owned(), || {
            view! { <Home /> }.into_any()
        }),
        _ => view! { <NotFound /> }.into_any(),
    }
}
