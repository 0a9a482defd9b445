//! The Reply box's canned responses: typing `/` and the start of a shortcut lists the
//! brand's matching answers (a listbox the box points at with `aria-activedescendant`);
//! Up and Down move through them, Enter or Tab puts the chosen one in place of the
//! `/shortcut` with its placeholders filled in (`shared::canned`), Escape closes the list.
//! The list is fetched again each time a `/` starts one, so an admin's new answer is there
//! without a reload.

use crate::api;
use leptos::prelude::*;
use shared::canned::{CannedResponse, Values, fill, insert, matching, slash_word};

/// The list's id, for the box's `aria-controls`.
pub const LIST_ID: &str = "sc-canned-list";
/// The most answers the list shows.
const SHOWN: usize = 8;

fn option_id(c: &CannedResponse) -> String {
    format!("sc-canned-{}", c.id)
}

/// The menu's state, shared by the Reply box (keys, `aria-activedescendant`) and the list.
#[derive(Clone, Copy)]
pub struct CannedMenu {
    text: RwSignal<String>,
    values: MaybeProp<Values>,
    shown: Memo<Vec<CannedResponse>>,
    active: RwSignal<usize>,
    /// The draft Escape was pressed on: the list stays closed until the draft changes.
    dismissed: RwSignal<Option<String>>,
}

/// The menu for the draft `text`, filling placeholders from `values` (empty while unknown).
pub fn use_canned(text: RwSignal<String>, values: MaybeProp<Values>) -> CannedMenu {
    let all = RwSignal::new(Vec::<CannedResponse>::new());
    let dismissed = RwSignal::new(None::<String>);
    let typing = Memo::new(move |_| text.with(|t| slash_word(t).is_some()));
    Effect::new(move |_| {
        if typing.get() {
            // `fetch` then `parse`: only the parsing is made for this type (the bundle's size).
            leptos::task::spawn_local(async move {
                let answer = api::fetch(gloo_net::http::Method::GET, "/api/canned", None).await;
                if let Ok(list) = answer.and_then(|a| api::parse::<Vec<CannedResponse>>(&a)) {
                    let _ = all.try_set(list);
                }
            });
        }
    });
    let shown = Memo::new(move |_| {
        text.with(|t| {
            if dismissed.with(|d| d.as_deref() == Some(t.as_str())) {
                return Vec::new();
            }
            let Some((_, typed)) = slash_word(t) else {
                return Vec::new();
            };
            all.with(|all| matching(all, typed, SHOWN).into_iter().cloned().collect())
        })
    });
    let active = RwSignal::new(0usize);
    Effect::new(move |_| {
        shown.track();
        active.set(0);
    });
    CannedMenu {
        text,
        values,
        shown,
        active,
        dismissed,
    }
}

impl CannedMenu {
    fn open(&self) -> bool {
        self.shown.with(|s| !s.is_empty())
    }

    /// The highlighted option's id, for the box's `aria-activedescendant`.
    pub fn active_id(&self) -> Option<String> {
        let i = self.active.get();
        self.shown.with(|s| s.get(i).map(option_id))
    }

    /// Puts the `i`th shown answer, filled in, in place of the `/shortcut`.
    fn choose(&self, i: usize) {
        let Some(c) = self.shown.with_untracked(|s| s.get(i).cloned()) else {
            return;
        };
        let filled = fill(&c.text, &self.values.get_untracked().unwrap_or_default());
        self.text.update(|t| {
            if let Some((start, _)) = slash_word(t) {
                *t = insert(t, start, &filled);
            }
        });
        // A filled text that itself ends in `/word` opens no list.
        self.dismissed.set(Some(self.text.get_untracked()));
    }

    /// The Reply box's keys while the list is open; the rest type as usual.
    pub fn keydown(&self, ev: &leptos::ev::KeyboardEvent) {
        if !self.open() {
            return;
        }
        let n = self.shown.with_untracked(Vec::len);
        match ev.key().as_str() {
            "ArrowDown" => self.active.update(|a| *a = (*a + 1) % n),
            "ArrowUp" => self.active.update(|a| *a = (*a + n - 1) % n),
            "Enter" | "Tab" => self.choose(self.active.get_untracked()),
            "Escape" => self.dismissed.set(Some(self.text.get_untracked())),
            _ => return,
        }
        ev.prevent_default();
    }

    /// The list (when something matches) and, for screen readers, how many match.
    pub fn view(self) -> impl IntoView {
        let menu = self;
        let status = move || {
            let n = menu.shown.with(Vec::len);
            match n {
                0 => String::new(),
                1 => "1 canned response: Enter or Tab to insert it, Escape to close.".into(),
                n => format!(
                    "{n} canned responses: Up and Down to choose, Enter or Tab to insert, \
                     Escape to close."
                ),
            }
        };
        let options = move || {
            let values = menu.values.get().unwrap_or_default();
            menu.shown
                .get()
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let preview = fill(&c.text, &values);
                    view! {
                        <li
                            id=option_id(&c)
                            role="option"
                            class="sc-canned__option"
                            aria-selected=move || (menu.active.get() == i).to_string()
                            on:mousedown=|ev| ev.prevent_default()
                            on:click=move |_| menu.choose(i)
                        >
                            <span class="sc-canned__shortcut">{format!("/{}", c.shortcut)}</span>
                            " "
                            <span class="sc-canned__text">{preview}</span>
                        </li>
                    }
                })
                .collect_view()
        };
        view! {
            <p id="sc-canned-status" class="sc-visually-hidden" role="status">
                {status}
            </p>
            <ul
                id=LIST_ID
                class="sc-canned"
                role="listbox"
                aria-label="Canned responses"
                hidden=move || !menu.open()
            >
                {options}
            </ul>
        }
    }
}
