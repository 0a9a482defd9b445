//! The SocialConnect SPA, built as two bundles (`shared::bundles`): the agent's
//! ([`AgentApp`]: start page, sign-in, workspace, and the Social Widget page that
//! LiveEngage loads in its iframe) and the admin's ([`AdminApp`]: SocialConnect Home,
//! onboarding, support's pages). Each bundle's router hands the other's paths to the
//! browser as a full page load, so links between them work like any link.

pub mod api;
pub mod components;
pub mod host;
pub mod live;
pub mod pages;
pub mod state;

use leptos::prelude::*;
use leptos_router::components::{ProtectedRoute, Route, Router, Routes};
use leptos_router::path;
use pages::{
    Home, Landing, MarketingPage, NotFound, SignInPage, SocialWidgetPage, SupportSignupsPage,
    ThankYouPage, Workspace,
};
use shared::bundles::Bundle;

/// Where the router sends someone who must sign in first.
pub const SIGN_IN_PATH: &str = "/login";

/// Learns who is signed in once at start; pages react when it arrives.
fn provide_session() -> state::Auth {
    let auth = state::provide_auth();
    leptos::task::spawn_local(async move {
        let me = api::session().await.unwrap_or(None);
        auth.me.set(Some(me));
    });
    auth
}

/// The agent's bundle.
#[component]
pub fn AgentApp() -> impl IntoView {
    let auth = provide_session();
    let signed_in = move || auth.signed_in();
    view! {
        <Router>
            <Routes fallback=|| view! { <Elsewhere here=Bundle::Agent /> }>
                <Route path=path!("/") view=Landing />
                <Route path=path!("/login") view=SignInPage />
                <ProtectedRoute
                    path=path!("/workspace")
                    condition=signed_in
                    redirect_path=|| SIGN_IN_PATH
                    view=Workspace
                />
                <ProtectedRoute
                    path=path!("/widget")
                    condition=signed_in
                    redirect_path=|| SIGN_IN_PATH
                    view=SocialWidgetPage
                />
            </Routes>
        </Router>
    }
}

/// The admin's bundle. It has its own sign-in page, so that a protected page's redirect
/// and the way back after signing in stay inside it.
#[component]
pub fn AdminApp() -> impl IntoView {
    let auth = provide_session();
    let signed_in = move || auth.signed_in();
    let is_admin = move || auth.is_admin();
    let is_support = move || {
        auth.me.with(|m| {
            m.as_ref().map(|me| {
                me.as_ref()
                    .is_some_and(|me| me.role == shared::Role::Support)
            })
        })
    };
    view! {
        <Router>
            <Routes fallback=|| view! { <Elsewhere here=Bundle::Admin /> }>
                <Route path=path!("/login") view=SignInPage />
                <Route path=path!("/socialconnect") view=MarketingPage />
                <ProtectedRoute
                    path=path!("/socialconnect/thank-you")
                    condition=signed_in
                    redirect_path=|| {
                        format!(
                            "{SIGN_IN_PATH}?next={}",
                            shared::onboarding::encode_component(shared::onboarding::THANK_YOU_PATH)
                        )
                    }
                    view=ThankYouPage
                />
                <ProtectedRoute
                    path=path!("/support/sign-ups")
                    condition=is_support
                    redirect_path=|| SIGN_IN_PATH
                    view=SupportSignupsPage
                />
                <ProtectedRoute
                    path=path!("/home")
                    condition=is_admin
                    redirect_path=|| "/workspace"
                    view=Home
                />
            </Routes>
        </Router>
    }
}

/// A path no route of this bundle matches: the other bundle's page, loaded in full (the
/// server answers it with that bundle), or this bundle's "page not found".
#[component]
fn Elsewhere(here: Bundle) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let path = location.pathname.get_untracked();
    if shared::bundles::bundle_for(&path) == here {
        return NotFound().into_any();
    }
    let url = format!(
        "{path}{}{}",
        location.search.get_untracked(),
        location.hash.get_untracked()
    );
    // `replace`: the router already put this address in the history.
    let _ = window().location().replace(&url);
    ().into_any()
}
