//! The SocialConnect SPA: one app with the agent workspace, the Social Widget page that
//! LiveEngage loads in its iframe, SocialConnect Home for admins, and the public pages.

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

/// Where the router sends someone who must sign in first.
pub const SIGN_IN_PATH: &str = "/login";

#[component]
pub fn App() -> impl IntoView {
    let auth = state::provide_auth();
    // Learn who is signed in once at start; pages react when it arrives.
    leptos::task::spawn_local(async move {
        let me = api::session().await.unwrap_or(None);
        auth.me.set(Some(me));
    });
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
            <Routes fallback=NotFound>
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
