//! A private note in the transcript, placed among the lines where it was written
//! (`shared::notes::interleave`): marked "Note" with its author, styled apart from the
//! consumer's lines and the brand's. Its text, like a line's, only ever becomes a text node.

use leptos::prelude::*;
use shared::api::display_time;
use shared::notes::Note;

/// One note.
#[component]
pub fn NoteView(note: Note) -> impl IntoView {
    let author = note
        .author
        .map(|a| a.name)
        .unwrap_or_else(|| "A former teammate".into());
    view! {
        <li class="sc-line sc-line--note">
            <div class="sc-line__meta">
                <span class="sc-tag sc-tag--note">"Note"</span>
                <span class="sc-line__who">{author}</span>
                <time class="sc-line__time" datetime=note.created_at.clone()>
                    {display_time(&note.created_at)}
                </time>
            </div>
            <p class="sc-line__text">{note.text}</p>
            <div class="sc-line__foot">
                <span>"Only your team sees this"</span>
            </div>
        </li>
    }
}
