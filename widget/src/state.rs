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

    /// Whether the signed-in user is SocialConnect support staff; `None` while checking.
    pub fn is_support(&self) -> Option<bool> {
        self.me.with(|m| {
            m.as_ref().map(|me| {
                me.as_ref()
                    .is_some_and(|me| me.role == shared::Role::Support)
            })
        })
    }

    /// Takes `me`, the answer to the check at start, unless someone signed in while it
    /// was on its way: that sign-in is newer, and the answer (asked with no session yet,
    /// "no one") would send them back to the sign-in page.
    pub fn learned_at_start(&self, me: Option<Me>) {
        if self.me.with_untracked(Option::is_some) {
            return;
        }
        if let Some(me) = &me {
            crate::api::set_csrf(Some(me.csrf_token.clone()));
        }
        self.me.set(Some(me));
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

/// The agent's reply being written, shared by the compose box and the Social Widget's
/// tools (Use, Add Public to Private, Send Image). It lives in the page, outside the
/// live-refreshed transcript, so updates never wipe it.
#[derive(Clone, Copy)]
pub struct Draft {
    pub text: RwSignal<String>,
    /// The Public/Private switch; `None` follows where the consumer last wrote.
    pub chosen: RwSignal<Option<shared::ReplyMode>>,
}

impl Draft {
    /// Adds `s` at the end of the draft, a space apart from what is there.
    pub fn append(&self, s: &str) {
        self.text.update(|t| {
            if !t.is_empty() && !t.ends_with(char::is_whitespace) {
                t.push(' ');
            }
            t.push_str(s);
        });
    }

    /// The reply mode in force: the agent's choice, else `default`.
    pub fn mode(&self, default: shared::ReplyMode) -> shared::ReplyMode {
        self.chosen.get().unwrap_or(default)
    }
}

pub fn provide_draft() -> Draft {
    let draft = Draft {
        text: RwSignal::new(String::new()),
        chosen: RwSignal::new(None),
    };
    provide_context(draft);
    draft
}

pub fn use_draft() -> Draft {
    expect_context::<Draft>()
}

/// The last answer of `fetch`, fetched again whenever a signal it reads before its first
/// `.await` changes; `None` until the first answer arrives. While a new answer is on its
/// way the last one stays (no flash of "loading"); an answer overtaken by a newer fetch is
/// dropped. (What `LocalResource` with `<Transition>` gave, for less transfer size.)
pub fn load<T, Fut>(fetch: impl Fn() -> Fut + 'static) -> ReadSignal<Option<T>, LocalStorage>
where
    T: 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let value = RwSignal::new_local(None);
    let latest = std::rc::Rc::new(std::cell::Cell::new(0u64));
    Effect::new(move |_| {
        let answer = fetch();
        let this = latest.get() + 1;
        latest.set(this);
        let latest = latest.clone();
        leptos::task::spawn_local(async move {
            let answer = answer.await;
            if latest.get() == this {
                // Gone with its page meanwhile: nothing to show it in.
                let _ = value.try_set(Some(answer));
            }
        });
    });
    value.read_only()
}
