//! `socialconnect count --target T` (CONTRACT.md §5): JSON Lines `{"text": "..."}` in,
//! one `{"length": N, "limit": N, "valid": bool}` line out per input line, computed by
//! `shared::count` — the code the widget and the server use — so support can tell an
//! agent exactly why a message was not sent.
//!
//! Blank lines are skipped. A line that is not a JSON object with a string `text` stops
//! the command with an error naming its line number (1-based, blank lines included),
//! after the lines before it have been answered: the output keeps exactly the shape the
//! contract gives, one answer per text, in order. Other fields of an input object are
//! ignored.

use anyhow::{Context, Result};
use serde::Deserialize;
use shared::Target;
use std::io::{BufRead, Write};

#[derive(Deserialize)]
struct Input {
    text: String,
}

/// Counts every text of `input` for `target`, writing one JSON line each to `output`.
pub fn run(target: Target, input: impl BufRead, mut output: impl Write) -> Result<()> {
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("reading line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let Input { text } = serde_json::from_str(&line)
            .with_context(|| format!("line {number}: expected {{\"text\": \"...\"}}"))?;
        let count = shared::count(target, &text);
        serde_json::to_writer(&mut output, &count).context("writing the count")?;
        output.write_all(b"\n").context("writing the count")?;
        output.flush().context("writing the count")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(target: Target, input: &str) -> Result<String> {
        let mut out = Vec::new();
        run(target, input.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn one_line_out_per_text_blank_lines_skipped() {
        let out = counted(
            Target::TwitterPublic,
            "{\"text\": \"Hi http://test.co\"}\n\n   \n{\"text\": \"故人\", \"id\": 7}\n{\"text\": \"\"}\n",
        )
        .unwrap();
        assert_eq!(
            out,
            "{\"length\":26,\"limit\":280,\"valid\":true}\n\
             {\"length\":4,\"limit\":280,\"valid\":true}\n\
             {\"length\":0,\"limit\":280,\"valid\":false}\n"
        );
    }

    #[test]
    fn each_target_uses_its_limit_and_counting() {
        let line = "{\"text\": \"😷😷\"}";
        let expect = |length: usize, limit: usize| {
            format!("{{\"length\":{length},\"limit\":{limit},\"valid\":true}}\n")
        };
        assert_eq!(
            counted(Target::TwitterPublic, line).unwrap(),
            expect(4, 280)
        );
        assert_eq!(counted(Target::TwitterDm, line).unwrap(), expect(2, 10_000));
        assert_eq!(
            counted(Target::FacebookPost, line).unwrap(),
            expect(2, 63_206)
        );
        assert_eq!(
            counted(Target::FacebookComment, line).unwrap(),
            expect(2, 5_000)
        );
        assert_eq!(counted(Target::Messenger, line).unwrap(), expect(2, 2_000));
    }

    #[test]
    fn over_the_limit_is_invalid() {
        let text = "x".repeat(2_001);
        let out = counted(Target::Messenger, &format!("{{\"text\": \"{text}\"}}")).unwrap();
        assert_eq!(out, "{\"length\":2001,\"limit\":2000,\"valid\":false}\n");
    }

    #[test]
    fn a_malformed_line_is_an_error_naming_it_after_the_lines_before() {
        let mut out = Vec::new();
        let err = run(
            Target::Messenger,
            "{\"text\": \"ok\"}\n\n{\"txt\": \"no\"}\n{\"text\": \"never\"}\n".as_bytes(),
            &mut out,
        )
        .unwrap_err();
        assert!(format!("{err:#}").starts_with("line 3: "), "{err:#}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"length\":2,\"limit\":2000,\"valid\":true}\n"
        );
        for bad in ["not json", "[1]", "{\"text\": 5}"] {
            let err = counted(Target::TwitterDm, bad).unwrap_err();
            assert!(format!("{err:#}").starts_with("line 1: "), "{err:#}");
        }
    }
}
