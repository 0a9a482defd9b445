//! The Character Counter: a text's length as the target network counts it, against the
//! target's limit. The widget (on every keystroke), the server (before sending) and
//! `socialconnect count` all call [`count`].
//!
//! - Twitter/X public replies: twitter-text's weighted length, configuration v3 — the
//!   text NFC-normalised; code points in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F
//!   and U+2032–U+2037 weigh 1, everything else 2; an emoji sequence (ZWJ, skin tone,
//!   flag, keycap) weighs 2 once; every URL, with or without a scheme, weighs 23. See
//!   [`twitter`], checked against twitter-text's conformance file and its JavaScript
//!   library.
//! - Twitter/X Direct Messages: X documents the 10,000 limit (`dm_text_character_limit`)
//!   but not how it counts DM characters, so they are counted as Unicode scalar values
//!   after NFC, like Facebook's.
//! - Facebook posts and comments, Messenger: Unicode scalar values after NFC (Meta does
//!   not document code points versus UTF-16 units; see PLATFORMS.md).
//!
//! Validity: not empty and within the limit. As in twitter-text's `parseTweet` a text of
//! only spaces is not empty (it has a length); for Twitter public replies, U+FFFE, U+FEFF
//! and U+FFFF also make a text invalid, as the library says.

mod emoji;
mod nfc;
mod tld;
pub mod twitter;

use crate::Target;
use serde::{Deserialize, Serialize};

/// A text's length for a target, the target's limit, and whether the network accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub length: usize,
    pub limit: usize,
    pub valid: bool,
}

/// Counts `text` as `target`'s network does.
pub fn count(target: Target, text: &str) -> Count {
    let limit = target.limit();
    let (length, valid) = match target {
        Target::TwitterPublic => {
            let parsed = twitter::parse(text, &twitter::V3);
            (parsed.weighted_length, parsed.valid)
        }
        Target::TwitterDm | Target::FacebookPost | Target::FacebookComment | Target::Messenger => {
            let length = scalar_values_nfc(text);
            (length, length > 0 && length <= limit)
        }
    };
    Count {
        length,
        limit,
        valid,
    }
}

/// Unicode scalar values of the NFC form of `text`.
fn scalar_values_nfc(text: &str) -> usize {
    nfc::nfc(text).chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twitter_public_is_weighted() {
        let c = count(Target::TwitterPublic, "Hi http://test.co 故人 😷");
        assert_eq!(
            c,
            Count {
                length: 26 + 1 + 4 + 1 + 2,
                limit: 280,
                valid: true
            }
        );
        let long = "x".repeat(281);
        assert!(!count(Target::TwitterPublic, &long).valid);
        assert!(count(Target::TwitterPublic, &long[1..]).valid);
    }

    #[test]
    fn others_count_scalar_values_after_nfc() {
        // "e" + combining acute composes to one "é"; the emoji is one scalar value.
        let c = count(Target::Messenger, "e\u{301}😷 http://example.com");
        assert_eq!(
            c,
            Count {
                length: 2 + 1 + 18,
                limit: 2_000,
                valid: true
            }
        );
        assert!(count(Target::FacebookComment, &"x".repeat(5_000)).valid);
        assert!(!count(Target::FacebookComment, &"x".repeat(5_001)).valid);
        assert_eq!(
            count(Target::TwitterDm, "😷".repeat(10_000).as_str()).length,
            10_000
        );
    }

    #[test]
    fn empty_is_invalid_everywhere_spaces_are_not_empty() {
        for target in Target::ALL {
            assert_eq!(
                count(target, ""),
                Count {
                    length: 0,
                    limit: target.limit(),
                    valid: false
                }
            );
            assert!(count(target, " ").valid, "{target:?}");
        }
    }

    #[test]
    fn serialises_as_the_contract_says() {
        let c = count(Target::FacebookPost, "hello");
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"length":5,"limit":63206,"valid":true}"#
        );
    }
}
