//! Private notes: what an agent writes on a conversation for the brand's own people. A note
//! shows in the transcript, marked as a note, and is never sent to a network.

use crate::api::AgentRef;
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_note_says_something_within_bounds() {
        assert!(super::check("Called her back; refund agreed.").is_ok());
        assert!(super::check(" \n ").is_err());
        assert!(super::check(&"x".repeat(super::NOTE_MAX + 1)).is_err());
    }
}
