//! The shapes of the networks' ids — page and person ids, post and comment ids, Messenger
//! message ids, X user, post and Direct Message event ids, X media keys — checked when a
//! webhook brings them and again before any of them goes into a URL, a path or a query.
//!
//! An id from a webhook is the network's word, but the webhook's signature only says the
//! network sent it: an id of another shape (`../me`, `1?fields=…`, `1#x`) could still turn a
//! call we build from it into a different call. Ids of the wrong shape are refused.

use std::fmt;

/// What an id names, and so which shape it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// A Facebook node: a page id, a person's id in the page's feed or their page-scoped
    /// id (PSID). Digits.
    FacebookNode,
    /// A Facebook post or comment id: `{page id}_{post}` for a post, `{post}_{comment}` for
    /// a comment (digits, an underscore, digits), or a bare node id (digits).
    FacebookObject,
    /// A Messenger message id: `m_…`, `mid.$…` or `mid.{time}:{hex}` in Meta's examples —
    /// letters, digits and `_ - . : $`.
    MessengerMid,
    /// An X user, post or Direct Message event id: a 64-bit number in digits.
    XId,
    /// An X media key: `{type}_{id}`, digits on both sides (`3_1234…`).
    XMediaKey,
}

impl IdKind {
    /// The id as people read it in an error.
    pub fn label(self) -> &'static str {
        match self {
            IdKind::FacebookNode => "Facebook page or person id",
            IdKind::FacebookObject => "Facebook post or comment id",
            IdKind::MessengerMid => "Messenger message id",
            IdKind::XId => "X id",
            IdKind::XMediaKey => "X media key",
        }
    }

    /// Whether `id` has this kind's shape.
    pub fn fits(self, id: &str) -> bool {
        match self {
            IdKind::FacebookNode => digits(id, 32),
            IdKind::FacebookObject => match id.split_once('_') {
                Some((a, b)) => digits(a, 32) && digits(b, 32),
                None => digits(id, 32),
            },
            IdKind::MessengerMid => {
                (1..=512).contains(&id.len())
                    && !id.contains("..")
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.:$".contains(&b))
            }
            // u64::MAX has 20 digits.
            IdKind::XId => digits(id, 20),
            IdKind::XMediaKey => id
                .split_once('_')
                .is_some_and(|(a, b)| digits(a, 20) && digits(b, 20)),
        }
    }

    /// `id` itself when it has this kind's shape.
    pub fn check(self, id: &str) -> Result<&str, BadId> {
        if self.fits(id) {
            Ok(id)
        } else {
            Err(BadId {
                kind: self,
                id: shown(id),
            })
        }
    }
}

/// 1 to `max` ASCII digits.
fn digits(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A refused id, shortened for a log line or an error message.
fn shown(id: &str) -> String {
    const MAX: usize = 40;
    match id.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &id[..cut]),
        None => id.to_owned(),
    }
}

/// An id that does not have the shape its network gives such ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadId {
    pub kind: IdKind,
    /// The id as given, cut to a readable length.
    pub id: String,
}

impl fmt::Display for BadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:?}` escapes quotes and control characters, so the id cannot forge a log line.
        write!(f, "not a valid {}: {:?}", self.kind.label(), self.id)
    }
}

impl std::error::Error for BadId {}

#[cfg(test)]
mod tests {
    use super::*;
    use IdKind::*;

    /// Everything that could turn an id into another path, query or fragment.
    const HOSTILE: [&str; 12] = [
        "",
        "../me",
        "..",
        "1/2",
        "123?fields=access_token",
        "123#x",
        "123 456",
        "123%2F..",
        "123\n456",
        "１２３",
        "-1",
        "123&a=b",
    ];

    #[test]
    fn facebook_nodes_are_digits() {
        for ok in ["1", "1122334455", "12345678901234567890123456789012"] {
            assert!(FacebookNode.fits(ok), "{ok}");
        }
        for bad in
            HOSTILE
                .iter()
                .copied()
                .chain(["PSID", "1_2", "123456789012345678901234567890123"])
        {
            assert!(!FacebookNode.fits(bad), "{bad:?}");
        }
    }

    #[test]
    fn facebook_posts_and_comments_are_digits_underscore_digits() {
        for ok in ["1122334455_987654321", "1_2", "1234"] {
            assert!(FacebookObject.fits(ok), "{ok}");
        }
        for bad in
            HOSTILE
                .iter()
                .copied()
                .chain(["1_", "_2", "1_2_3", "1__2", "PAGE_1", "1_2/comments"])
        {
            assert!(!FacebookObject.fits(bad), "{bad:?}");
        }
    }

    #[test]
    fn mids_take_metas_documented_forms() {
        // Meta's examples (Messenger `messages` and `message_echoes` references).
        for ok in [
            "mid.1457764197618:41d102a3e1ae206a38",
            "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU",
            "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c",
            "qT7ywaKpO9kkQR7Gv-nM8LIfLZDamVrALniheUYEDdHJXjDXEAyaS1xxONzb2Iv-DFzmTihfWJV012P5pK0AhQ",
        ] {
            assert!(MessengerMid.fits(ok), "{ok}");
        }
        for bad in HOSTILE
            .iter()
            .copied()
            .filter(|h| *h != "-1")
            .chain(["m_a..b", &"m".repeat(513)])
        {
            assert!(!MessengerMid.fits(bad), "{bad:?}");
        }
    }

    #[test]
    fn x_ids_are_64_bit_numbers_and_media_keys_digit_pairs() {
        for ok in ["1", "1460323737035677698", "18446744073709551615"] {
            assert!(XId.fits(ok), "{ok}");
        }
        for bad in HOSTILE
            .iter()
            .copied()
            .chain(["C1", "123456789012345678901"])
        {
            assert!(!XId.fits(bad), "{bad:?}");
        }
        assert!(XMediaKey.fits("3_1460323737035677698"));
        assert!(XMediaKey.fits("16_1"));
        for bad in HOSTILE.iter().copied().chain(["3", "3_", "a_1", "3_1_2"]) {
            assert!(!XMediaKey.fits(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_kind_and_escapes_the_id() {
        let e = XId.check("1\n\"x").unwrap_err();
        assert_eq!(e.to_string(), r#"not a valid X id: "1\n\"x""#);
        let long = FacebookNode.check(&"9".repeat(100)).unwrap_err();
        assert!(long.id.ends_with('…') && long.id.chars().count() == 41);
        assert_eq!(XId.check("42"), Ok("42"));
    }
}
