//! Private notes: what an agent writes on a conversation for the brand's own people. A note
//! shows in the transcript, marked as a note, and is never sent to a network.

use crate::api::{AgentRef, Line};
use serde::{Deserialize, Serialize};

/// One note, as the transcript shows it (`Transcript::notes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: i64,
    /// Who wrote it; `None` once that person's record is gone.
    pub author: Option<AgentRef>,
    pub text: String,
    /// RFC 3339, the server's time when it was written.
    pub created_at: String,
}

/// `POST /api/conversations/{id}/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNote {
    pub text: String,
}

/// The longest note, in characters.
pub const NOTE_MAX: usize = 10_000;

/// Checks a note's text: something to say, and not too much of it.
pub fn check(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("write the note first".into());
    }
    if text.chars().count() > NOTE_MAX {
        return Err(format!("a note has at most {NOTE_MAX} characters"));
    }
    Ok(())
}

/// A transcript's entry: one of the conversation's lines, or a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Line(Line),
    Note(Note),
}

/// The lines and notes in time order (each list oldest first; a note written at the same
/// millisecond as a line comes after it). Both times are RFC 3339 in UTC with
/// milliseconds, as the server writes them, so they compare as text.
pub fn interleave(lines: Vec<Line>, notes: Vec<Note>) -> Vec<Entry> {
    let mut out = Vec::with_capacity(lines.len() + notes.len());
    let mut notes = notes.into_iter().peekable();
    for line in lines {
        while let Some(n) = notes.next_if(|n| n.created_at < line.created_at) {
            out.push(Entry::Note(n));
        }
        out.push(Entry::Line(line));
    }
    out.extend(notes.map(Entry::Note));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Author, Direction, LineStatus};

    fn line(id: i64, at: &str) -> Line {
        Line {
            id,
            tag: crate::Tag::Private,
            direction: Direction::In,
            author: Author::Consumer,
            text: format!("line {id}"),
            media: vec![],
            links: vec![],
            status: LineStatus::Received,
            error: None,
            created_at: at.into(),
            edited: false,
            removed: false,
        }
    }

    fn note(id: i64, at: &str) -> Note {
        Note {
            id,
            author: None,
            text: format!("note {id}"),
            created_at: at.into(),
        }
    }

    #[test]
    fn notes_sit_among_the_lines_where_they_were_written() {
        let lines = vec![
            line(1, "2026-11-25T10:00:00.000Z"),
            line(2, "2026-11-25T10:05:00.000Z"),
        ];
        let notes = vec![
            note(7, "2026-11-25T09:59:59.999Z"),
            note(8, "2026-11-25T10:05:00.000Z"),
            note(9, "2026-11-25T11:00:00.000Z"),
        ];
        let order: Vec<String> = interleave(lines, notes)
            .into_iter()
            .map(|e| match e {
                Entry::Line(l) => l.text,
                Entry::Note(n) => n.text,
            })
            .collect();
        assert_eq!(
            order,
            ["note 7", "line 1", "line 2", "note 8", "note 9"],
            "a note at a line's very millisecond follows it"
        );
        assert!(interleave(vec![], vec![]).is_empty());
    }

    #[test]
    fn a_note_says_something_within_bounds() {
        assert!(check("Called her back; refund agreed.").is_ok());
        assert!(check(" \n ").is_err());
        assert!(check(&"x".repeat(NOTE_MAX + 1)).is_err());
    }
}
