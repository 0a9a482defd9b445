//! Canned responses: a brand's ready answers, each under a `/shortcut` an agent types in
//! the Reply box. Both sides run these rules: the server refuses a shortcut or text that
//! breaks them when an admin saves, and the widget finds the matches for what the agent
//! typed and fills the placeholders in.

use serde::{Deserialize, Serialize};

/// A stored canned response (`GET /api/canned`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedResponse {
    pub id: i64,
    /// Lower-case, without the `/`.
    pub shortcut: String,
    /// With its placeholders, as the admin wrote it.
    pub text: String,
}

/// What an admin sends to add or change one (`POST /api/canned`, `PUT /api/canned/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveCanned {
    pub shortcut: String,
    pub text: String,
}

/// The longest shortcut, in characters.
pub const SHORTCUT_MAX: usize = 32;
/// The longest text, in characters: above every network's longest message, so the
/// character counter, not this, says when a filled text is too long for the reply.
pub const TEXT_MAX: usize = 10_000;

/// The placeholders a text may hold, each `{{name}}` (spaces inside the braces allowed).
pub const PLACEHOLDERS: [&str; 4] = [
    "consumer.name",
    "consumer.first_name",
    "consumer.handle",
    "agent.name",
];

/// What the placeholders become in one conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    pub consumer_name: Option<String>,
    /// Without the `@`.
    pub consumer_handle: Option<String>,
    pub agent_name: String,
}

impl Values {
    fn handle(&self) -> Option<String> {
        self.consumer_handle
            .as_deref()
            .map(|h| h.trim().trim_start_matches('@'))
            .filter(|h| !h.is_empty())
            .map(|h| format!("@{h}"))
    }

    fn name(&self) -> Option<&str> {
        self.consumer_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
    }

    /// The value of a known placeholder: a consumer without a name is called by their
    /// handle, and one without either by nothing.
    fn value(&self, placeholder: &str) -> String {
        match placeholder {
            "consumer.name" => self.name().map(str::to_owned).or_else(|| self.handle()),
            "consumer.first_name" => self
                .name()
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_owned)
                .or_else(|| self.handle()),
            "consumer.handle" => self.handle(),
            "agent.name" => Some(self.agent_name.trim().to_owned()),
            _ => None,
        }
        .unwrap_or_default()
    }
}

/// A text's pieces: literal text and `{{…}}` placeholders (their inside, trimmed).
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Where the pair of ASCII bytes `pair` first is in `s` (a byte scan: `str::find` with a
/// `&str` would bring a general substring search into the widget).
fn find_pair(s: &str, pair: &[u8; 2]) -> Option<usize> {
    s.as_bytes().windows(2).position(|w| w == pair)
}

/// Splits `text` at its placeholders; `Err` names a `{{` that is never closed.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = find_pair(rest, b"{{") {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 2..];
        let Some(close) = find_pair(after, b"}}") else {
            let start: String = rest[open..].chars().take(24).collect();
            return Err(format!(
                "a placeholder is not closed: {start:?} needs its }}}}"
            ));
        };
        out.push(Piece::Placeholder(after[..close].trim()));
        rest = &after[close + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Whether `c` may be in a shortcut: ASCII letters and digits, `-` and `_` (ASCII only, so
/// the widget carries no Unicode case tables for them).
fn shortcut_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A shortcut as stored: trimmed, without a leading `/`, lower-case; ASCII letters,
/// digits, `-` and `_` only, at most [`SHORTCUT_MAX`] characters.
pub fn shortcut(raw: &str) -> Result<String, String> {
    let s = raw.trim().trim_start_matches('/').to_ascii_lowercase();
    if s.is_empty() {
        return Err("a shortcut is needed, such as greet (typed /greet)".into());
    }
    if s.chars().count() > SHORTCUT_MAX {
        return Err(format!("a shortcut has at most {SHORTCUT_MAX} characters"));
    }
    if let Some(bad) = s.chars().find(|c| !shortcut_char(*c)) {
        return Err(format!(
            "a shortcut holds letters a-z, digits, - and _ only, not {bad:?}"
        ));
    }
    Ok(s)
}

/// Checks a text: not empty, at most [`TEXT_MAX`] characters, and only known, closed
/// placeholders.
pub fn check_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("a canned response needs a text".into());
    }
    if text.chars().count() > TEXT_MAX {
        return Err(format!(
            "a canned response has at most {TEXT_MAX} characters"
        ));
    }
    for piece in pieces(text)? {
        if let Piece::Placeholder(p) = piece
            && !PLACEHOLDERS.contains(&p)
        {
            let known: Vec<String> = PLACEHOLDERS
                .iter()
                .map(|k| format!("{{{{{k}}}}}"))
                .collect();
            return Err(format!(
                "unknown placeholder {{{{{p}}}}}; use {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Checks what an admin sends, giving it back as stored (the shortcut normalised).
pub fn validate(req: &SaveCanned) -> Result<SaveCanned, String> {
    let shortcut = shortcut(&req.shortcut)?;
    check_text(&req.text)?;
    Ok(SaveCanned {
        shortcut,
        text: req.text.clone(),
    })
}

/// The text with its placeholders filled in. An unknown or unclosed placeholder (which
/// the server never stores) stays as written.
pub fn fill(text: &str, values: &Values) -> String {
    let Ok(pieces) = pieces(text) else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(p) if PLACEHOLDERS.contains(&p) => out.push_str(&values.value(p)),
            Piece::Placeholder(p) => {
                out.push_str("{{");
                out.push_str(p);
                out.push_str("}}");
            }
        }
    }
    out
}

/// The `/word` being typed at the end of `draft`: where its `/` starts and the word after
/// it (possibly empty). Only at the start of the draft or after white space, so a URL's
/// path is not one.
pub fn slash_word(draft: &str) -> Option<(usize, &str)> {
    let start = draft.rfind(char::is_whitespace).map_or(0, |i| {
        i + draft[i..].chars().next().map_or(1, char::len_utf8)
    });
    let word = &draft[start..];
    let typed = word.strip_prefix('/')?;
    typed.chars().all(shortcut_char).then_some((start, typed))
}

/// The responses whose shortcut starts with `typed` (case-insensitive), in the order given
/// (the server's: by shortcut); at most `limit`. Nothing is sorted or searched within
/// words here, so the widget carries neither a sort nor a substring search for it.
pub fn matching<'a>(
    all: &'a [CannedResponse],
    typed: &str,
    limit: usize,
) -> Vec<&'a CannedResponse> {
    let typed = typed.to_ascii_lowercase();
    all.iter()
        .filter(|c| c.shortcut.starts_with(&typed))
        .take(limit)
        .collect()
}

/// `draft` with the `/word` at its end (from `start`, see [`slash_word`]) replaced by
/// `text`.
pub fn insert(draft: &str, start: usize, text: &str) -> String {
    let mut out = String::with_capacity(start + text.len());
    out.push_str(&draft[..start.min(draft.len())]);
    out.push_str(text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Values {
        Values {
            consumer_name: Some("Ann Lee".into()),
            consumer_handle: None,
            agent_name: "Alex Agent".into(),
        }
    }

    #[test]
    fn placeholders_are_filled_with_the_consumer_and_agent() {
        let text = "Hi {{consumer.first_name}}! {{ agent.name }} here; {{consumer.name}}.";
        assert_eq!(fill(text, &ann()), "Hi Ann! Alex Agent here; Ann Lee.");
        // Without a name, the handle; without either, nothing.
        let bo = Values {
            consumer_name: None,
            consumer_handle: Some("bo".into()),
            agent_name: "Alex".into(),
        };
        assert_eq!(
            fill("Hi {{consumer.first_name}} ({{consumer.handle}})", &bo),
            "Hi @bo (@bo)"
        );
        let nobody = Values {
            consumer_name: Some("  ".into()),
            ..Values::default()
        };
        assert_eq!(fill("Hi {{consumer.name}}!", &nobody), "Hi !");
        // What the server never stores stays as written.
        assert_eq!(fill("{{order.id}} {{open", &ann()), "{{order.id}} {{open");
        assert_eq!(
            fill("{{nope}} {{consumer.name}}", &ann()),
            "{{nope}} Ann Lee"
        );
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_refused_with_the_known_ones_named() {
        assert_eq!(
            check_text("Hello {{consumer.name}}, {{ agent.name }}"),
            Ok(())
        );
        let e = check_text("Hello {{customer.name}}").unwrap_err();
        assert!(e.contains("unknown placeholder {{customer.name}}"), "{e}");
        assert!(e.contains("{{consumer.first_name}}"), "{e}");
        let e = check_text("Hello {{consumer.name").unwrap_err();
        assert!(e.contains("not closed"), "{e}");
        assert!(check_text("  ").is_err());
        assert!(check_text(&"x".repeat(TEXT_MAX + 1)).is_err());
        // Closing braces alone are just text.
        assert_eq!(check_text("a }} b"), Ok(()));
    }

    #[test]
    fn shortcuts_are_normalised_and_checked() {
        assert_eq!(shortcut(" /Greet "), Ok("greet".into()));
        assert_eq!(shortcut("late-order_2"), Ok("late-order_2".into()));
        assert!(shortcut("/").is_err());
        assert!(shortcut("two words").unwrap_err().contains("' '"));
        assert!(shortcut("a/b").is_err());
        assert!(shortcut("café").unwrap_err().contains("'é'"));
        assert!(shortcut(&"a".repeat(SHORTCUT_MAX + 1)).is_err());
    }

    #[test]
    fn the_slash_word_is_found_only_where_a_word_starts() {
        assert_eq!(slash_word("/gr"), Some((0, "gr")));
        assert_eq!(slash_word("/"), Some((0, "")));
        assert_eq!(slash_word("Thanks!\n/th"), Some((8, "th")));
        assert_eq!(slash_word("café /gr"), Some((6, "gr")));
        assert_eq!(slash_word("see https://x.com/gr"), None);
        assert_eq!(slash_word("/gr "), None, "a space ends the word");
        assert_eq!(slash_word("/gr."), None);
        assert_eq!(slash_word("hello"), None);
        let draft = "Sorry! /gr";
        let (start, _) = slash_word(draft).unwrap();
        assert_eq!(insert(draft, start, "Hi Ann"), "Sorry! Hi Ann");
    }

    #[test]
    fn matches_start_with_what_was_typed_in_the_servers_order() {
        let all: Vec<CannedResponse> = ["great-news", "greet", "regret", "thanks"]
            .iter()
            .enumerate()
            .map(|(i, s)| CannedResponse {
                id: i as i64,
                shortcut: s.to_string(),
                text: String::new(),
            })
            .collect();
        let names = |typed: &str, limit| -> Vec<String> {
            matching(&all, typed, limit)
                .iter()
                .map(|c| c.shortcut.clone())
                .collect()
        };
        assert_eq!(names("gr", 10), ["great-news", "greet"]);
        assert_eq!(names("GRE", 10), ["great-news", "greet"]);
        assert_eq!(names("gr", 1), ["great-news"]);
        assert_eq!(names("", 10).len(), 4);
        assert!(
            names("egret", 10).is_empty(),
            "the start of a shortcut only"
        );
    }
}
