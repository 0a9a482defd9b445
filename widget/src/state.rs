//! App-wide state as context pairs: who is signed in.

use leptos::prelude::*;
use shared::api::Me;

/// The signed-in user: `None` while the session is being checked, then `Some(None)` for
/// no one or `Some(Some(me))`.
#[derive(Clone, Copy)]
pub struct Auth {
    pub me: RwSignal<Option<Option<Me>>>,
}

impl Auth {
    /// Whether the check has finished and someone is signed in; `None` while checking.
    pub fn signed_in(&self) -> Option<bool> {
        self.me.with(|m| m.as_ref().map(Option::is_some))
    }

    /// Whether the signed-in user is a brand admin; `None` while checking.
    pub fn is_admin(&self) -> Option<bool> {
        self.me
            .with(|m| m.as_ref().map(|me| me.as_ref().is_some_and(Me::is_admin)))
    }

    pub fn user(&self) -> Option<Me> {
        self.me.get().flatten()
    }
}

pub fn provide_auth() -> Auth {
    let auth = Auth {
        me: RwSignal::new(None),
    };
    provide_context(auth);
    auth
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}
