//! What Home's settings sections share (Single sign-on, LiveEngage): one settings object
//! at an API path, read when the section opens, saved with `PUT` or removed with `DELETE`,
//! one change at a time, with a status line for what happened and an alert for a refusal.

use crate::api;
use gloo_net::http::Method;
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A section's state: what is stored now (`None` until read), the last change's note or
/// error, and whether a change is under way.
pub struct Section<C: Send + Sync + 'static> {
    pub config: RwSignal<Option<C>>,
    pub note: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    pub busy: RwSignal<bool>,
}

impl<C: Send + Sync + 'static> Clone for Section<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: Send + Sync + 'static> Copy for Section<C> {}

/// What a section says after a save and after a removal.
#[derive(Clone, Copy)]
pub struct Words {
    pub saved: &'static str,
    pub removed: &'static str,
}

/// Reads `path` now (`show` fills the form from it) and returns the section's state and
/// its `change`: `Some(settings)` saves, `None` removes (then `removed` marks what is
/// stored as gone and clears the form).
/// Every change also bumps `refresh`, so Home's overview (and its audit log) is read again.
pub fn use_section<S, C>(
    path: &'static str,
    words: Words,
    refresh: RwSignal<u64>,
    show: impl Fn(C) + Copy + 'static,
    removed: impl Fn(RwSignal<Option<C>>) + Copy + 'static,
) -> (Section<C>, impl Fn(Option<S>) + Copy + 'static)
where
    S: Serialize + 'static,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let section = Section {
        config: RwSignal::new(None),
        note: RwSignal::new(None),
        error: RwSignal::new(None),
        busy: RwSignal::new(false),
    };
    let loaded = move |c: C| {
        show(c.clone());
        section.config.set(Some(c));
    };
    leptos::task::spawn_local(async move {
        match api::get::<C>(path).await {
            Ok(c) => loaded(c),
            Err(e) => section.error.set(Some(e.message)),
        }
    });
    let change = move |set: Option<S>| {
        if section.busy.get_untracked() {
            return;
        }
        section.busy.set(true);
        leptos::task::spawn_local(async move {
            let result = match set {
                Some(set) => match api::fetch(Method::PUT, path, Some(api::json(&set))).await {
                    Ok(answer) => api::parse::<C>(&answer).map(Some),
                    Err(e) => Err(e),
                },
                None => api::fetch(Method::DELETE, path, Some("null".into()))
                    .await
                    .map(|_| None),
            };
            section.busy.set(false);
            match result {
                Ok(saved) => {
                    section.error.set(None);
                    let said = if saved.is_some() {
                        words.saved
                    } else {
                        words.removed
                    };
                    section.note.set(Some(said.into()));
                    match saved {
                        Some(c) => loaded(c),
                        None => removed(section.config),
                    }
                }
                Err(e) => {
                    section.note.set(None);
                    section.error.set(Some(e.message));
                }
            }
            refresh.update(|n| *n += 1);
        });
    };
    (section, change)
}

/// The section's status line and alert.
pub fn messages<C: Send + Sync + 'static>(section: Section<C>) -> impl IntoView {
    view! {
        {move || {
            section.note.get().map(|n| view! { <p class="sc-home__note" role="status">{n}</p> })
        }}
        {move || {
            section.error.get().map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })
        }}
    }
}
