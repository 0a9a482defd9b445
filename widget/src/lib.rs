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

thread_local! {
    /// The address this document was loaded from.
    static LOADED_FROM: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// This document's address, without the origin.
fn loaded_from() -> String {
    let l = window().location();
    let part = |p: Result<String, _>| p.unwrap_or_default();
    format!(
        "{}{}{}",
        part(l.pathname()),
        part(l.search()),
        part(l.hash())
    )
}

/// Learns who is signed in once at start; pages react when it arrives.
fn provide_session() -> state::Auth {
    LOADED_FROM.with(|l| *l.borrow_mut() = loaded_from());
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
/// server answers it with that bundle), or this bundle's "page not found" — also when this
/// very address just loaded this bundle (a server that does not tell the bundles apart,
/// such as `trunk serve`), rather than loading it again and again.
#[component]
fn Elsewhere(here: Bundle) -> impl IntoView {
    // The router's location: the window's address changes only once the route is shown.
    let location = leptos_router::hooks::use_location();
    let path = location.pathname.get_untracked();
    let search = location.search.get_untracked();
    let query = if search.is_empty() { "" } else { "?" };
    let url = format!("{path}{query}{search}{}", location.hash.get_untracked());
    if shared::bundles::bundle_for(&path) == here || LOADED_FROM.with(|l| *l.borrow() == url) {
        return NotFound().into_any();
    }
    let _ = window().location().assign(&url);
    ().into_any()
}
