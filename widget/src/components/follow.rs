//! Where the transcript is scrolled to: at its newest line on open, on send and when a
//! line arrives while the agent is at the bottom; left where the agent is reading
//! otherwise, with a "new messages" marker instead of a jump.
//!
//! The transcript is drawn again whenever the conversation changes, so the scroll state
//! lives here, with the page, across those redraws.

use leptos::prelude::*;
use web_sys::Element;

/// How close to the bottom (in CSS pixels) still counts as reading the newest line.
const NEAR_END: i32 = 24;

/// The transcript's scroll state for one workspace page.
#[derive(Clone, Copy)]
pub struct Follow {
    /// The agent is at the newest line (or has just sent a reply): the next line shows.
    at_end: StoredValue<bool>,
    /// Where the agent scrolled to, restored when the transcript is drawn again.
    top: StoredValue<i32>,
    /// The conversation and number of lines last drawn.
    drawn: StoredValue<Option<(i64, usize)>>,
    /// Lines arrived below what the agent is reading.
    pub unseen: RwSignal<bool>,
}

impl Default for Follow {
    fn default() -> Self {
        Self::new()
    }
}

impl Follow {
    pub fn new() -> Self {
        Follow {
            at_end: StoredValue::new(true),
            top: StoredValue::new(0),
            drawn: StoredValue::new(None),
            unseen: RwSignal::new(false),
        }
    }

    /// The agent scrolled the transcript `el`.
    pub fn scrolled(&self, el: &Element) {
        self.top.set_value(el.scroll_top());
        let at_end = el.scroll_top() + el.client_height() >= el.scroll_height() - NEAR_END;
        self.at_end.set_value(at_end);
        if at_end {
            self.unseen.set(false);
        }
    }

    /// The transcript `el` of conversation `id` was drawn with `lines` lines.
    pub fn placed(&self, el: &Element, id: i64, lines: usize) {
        let before = self.drawn.get_value();
        self.drawn.set_value(Some((id, lines)));
        match before {
            Some((shown, count)) if shown == id && !self.at_end.get_value() => {
                el.set_scroll_top(self.top.get_value());
                if lines > count {
                    self.unseen.set(true);
                }
            }
            _ => self.to_end(el),
        }
    }

    /// Something in the transcript `el` grew (an image loaded): keep the newest line in
    /// view if it was.
    pub fn grew(&self, el: &Element) {
        if self.at_end.get_value() {
            el.set_scroll_top(el.scroll_height());
        }
    }

    /// The agent sent a reply: show the newest line when it is drawn.
    pub fn stick(&self) {
        self.at_end.set_value(true);
    }

    /// Scrolls `el` to its newest line.
    pub fn to_end(&self, el: &Element) {
        el.set_scroll_top(el.scroll_height());
        self.top.set_value(el.scroll_top());
        self.at_end.set_value(true);
        self.unseen.set(false);
    }
}
