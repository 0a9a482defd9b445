//! Which reply modes a conversation offers now, and why not: the networks' rules that are
//! known before anything is sent. The server refuses a reply by them (400) and the widget
//! shows the Public/Private switch by them, so both read the same facts the same way.
//!
//! Facebook's private replies (Messenger Platform, "Private Replies"): one message to the
//! person who wrote a visitor post or a comment, "within 7 days from when the post or
//! comment was created", only one per post or comment; Messenger messages only once the
//! person has written there.

use crate::{Channel, ReplyMode, Tag, Target};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long after a post or comment was created a private reply may answer it.
pub const PRIVATE_REPLY_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// What a Private Response answers: Facebook names the two by different recipient fields
/// (`recipient.post_id` for a visitor post, `recipient.comment_id` for a comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivateTarget {
    Post,
    Comment,
}

impl PrivateTarget {
    /// The kind of line a private reply can answer; `None` for any other (a DM, a thread).
    pub fn of(tag: Tag) -> Option<PrivateTarget> {
        match tag {
            Tag::PublicPost => Some(PrivateTarget::Post),
            Tag::PublicComment => Some(PrivateTarget::Comment),
            Tag::PublicThread | Tag::Private => None,
        }
    }

    /// The word people read.
    pub fn noun(self) -> &'static str {
        match self {
            PrivateTarget::Post => "post",
            PrivateTarget::Comment => "comment",
        }
    }
}

/// The consumer's last public line: what Public answers, and what a Private Response
/// would answer privately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicLine {
    pub tag: Tag,
    /// When the network says it was created, milliseconds since the epoch.
    pub created_at_ms: i64,
    /// A private reply to it was sent or is on its way.
    pub answered_privately: bool,
}

/// What the rules need to know about a conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyFacts {
    /// `None` when the consumer has written nothing public (or removed it all).
    pub last_public: Option<PublicLine>,
    /// The consumer has written in private (Messenger, Direct Message).
    pub wrote_privately: bool,
}

/// Why a reply mode cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unavailable {
    /// The network has no such mode (Private Response on X).
    NotOnNetwork,
    /// Nothing public to answer.
    NothingPublic,
    /// Facebook: the person has not written in Messenger, so the page may not write there.
    NotInMessenger,
    /// The last public line is neither a post nor a comment.
    NotAnswerablePrivately,
    /// That post or comment already has its one private reply.
    AlreadyAnswered(PrivateTarget),
    /// That post or comment is more than 7 days old.
    WindowPassed(PrivateTarget),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::NotOnNetwork => f.write_str("Private Response is for Facebook only."),
            Unavailable::NothingPublic => {
                f.write_str("The consumer has written nothing public to answer; reply in private.")
            }
            Unavailable::NotInMessenger => f.write_str(
                "The consumer has not written in Messenger; use Private Response to answer \
                 their comment or post privately.",
            ),
            Unavailable::NotAnswerablePrivately => f.write_str(
                "Their last public message is neither a post nor a comment, so it cannot get \
                 a private reply.",
            ),
            Unavailable::AlreadyAnswered(t) => write!(
                f,
                "Their last {0} already has a private reply; Facebook allows one per {0}.",
                t.noun()
            ),
            Unavailable::WindowPassed(t) => write!(
                f,
                "Their last {0} is more than 7 days old; Facebook allows a private reply only \
                 within 7 days of the {0}.",
                t.noun()
            ),
        }
    }
}

/// The rule of Private Response over the facts of the line it would answer: a post or
/// comment, not answered privately yet, at most 7 days old at `now_ms`.
pub fn private_response_refusal(line: &PublicLine, now_ms: i64) -> Option<Unavailable> {
    let Some(target) = PrivateTarget::of(line.tag) else {
        return Some(Unavailable::NotAnswerablePrivately);
    };
    if line.answered_privately {
        Some(Unavailable::AlreadyAnswered(target))
    } else if now_ms.saturating_sub(line.created_at_ms) > PRIVATE_REPLY_WINDOW_MS {
        Some(Unavailable::WindowPassed(target))
    } else {
        None
    }
}

/// Why `mode` cannot be used on `channel` now; `None` when it can.
pub fn refusal(
    channel: Channel,
    mode: ReplyMode,
    facts: &ReplyFacts,
    now_ms: i64,
) -> Option<Unavailable> {
    if !mode.available_on(channel) {
        return Some(Unavailable::NotOnNetwork);
    }
    match mode {
        ReplyMode::Public => facts
            .last_public
            .is_none()
            .then_some(Unavailable::NothingPublic),
        ReplyMode::Private => (channel == Channel::Facebook && !facts.wrote_privately)
            .then_some(Unavailable::NotInMessenger),
        ReplyMode::PrivateResponse => match &facts.last_public {
            None => Some(Unavailable::NothingPublic),
            Some(line) => private_response_refusal(line, now_ms),
        },
    }
}

/// Where a reply in `mode` on `channel` goes: what its text is counted against and which
/// images it may carry. Public answers the consumer's last public line (an X reply, a
/// Facebook comment); Private and Private Response go by Direct Message or Messenger.
pub fn reply_target(channel: Channel, mode: ReplyMode) -> Target {
    match (channel, mode) {
        (Channel::Twitter, ReplyMode::Public) => Target::TwitterPublic,
        (Channel::Twitter, _) => Target::TwitterDm,
        (Channel::Facebook, ReplyMode::Public) => Target::FacebookComment,
        (Channel::Facebook, _) => Target::Messenger,
    }
}

/// The tag a reply in `mode` on `channel` carries in the transcript: Public is a comment
/// on Facebook and a reply in the thread on X; the others are private.
pub fn reply_tag(channel: Channel, mode: ReplyMode) -> Tag {
    match (mode, channel) {
        (ReplyMode::Public, Channel::Facebook) => Tag::PublicComment,
        (ReplyMode::Public, Channel::Twitter) => Tag::PublicThread,
        (ReplyMode::Private | ReplyMode::PrivateResponse, _) => Tag::Private,
    }
}

/// Whether a reply in `mode` answers the consumer's last public line (Public in the open,
/// Private Response privately); a Private reply answers no line.
pub fn answers_last_public(mode: ReplyMode) -> bool {
    mode != ReplyMode::Private
}

/// One reply mode of a conversation as the conversation API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeAvailability {
    pub mode: ReplyMode,
    pub available: bool,
    /// Why not, in plain words (`None` when available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The modes `channel` has (in the switch's order), each with whether it is available.
pub fn availability(channel: Channel, facts: &ReplyFacts, now_ms: i64) -> Vec<ModeAvailability> {
    ReplyMode::ALL
        .into_iter()
        .filter(|m| m.available_on(channel))
        .map(|mode| {
            let why = refusal(channel, mode, facts, now_ms);
            ModeAvailability {
                mode,
                available: why.is_none(),
                reason: why.map(|w| w.to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 24 * 3600 * 1000;

    fn line(tag: Tag, age_ms: i64, answered: bool) -> PublicLine {
        PublicLine {
            tag,
            created_at_ms: NOW - age_ms,
            answered_privately: answered,
        }
    }

    #[test]
    fn a_fresh_comment_or_post_can_be_answered_privately_once() {
        for tag in [Tag::PublicComment, Tag::PublicPost] {
            assert_eq!(private_response_refusal(&line(tag, DAY, false), NOW), None);
            let target = PrivateTarget::of(tag).unwrap();
            assert_eq!(
                private_response_refusal(&line(tag, DAY, true), NOW),
                Some(Unavailable::AlreadyAnswered(target))
            );
        }
    }

    #[test]
    fn the_window_is_seven_days_from_creation_inclusive() {
        let c = Tag::PublicComment;
        assert_eq!(
            private_response_refusal(&line(c, 7 * DAY, false), NOW),
            None
        );
        assert_eq!(
            private_response_refusal(&line(c, 7 * DAY + 1, false), NOW),
            Some(Unavailable::WindowPassed(PrivateTarget::Comment))
        );
        assert_eq!(
            private_response_refusal(&line(Tag::PublicPost, 8 * DAY, false), NOW),
            Some(Unavailable::WindowPassed(PrivateTarget::Post))
        );
        // Already answered is the reason that stays true: it is said first.
        assert_eq!(
            private_response_refusal(&line(c, 8 * DAY, true), NOW),
            Some(Unavailable::AlreadyAnswered(PrivateTarget::Comment))
        );
    }

    #[test]
    fn only_posts_and_comments_get_private_replies() {
        assert_eq!(
            private_response_refusal(&line(Tag::PublicThread, 0, false), NOW),
            Some(Unavailable::NotAnswerablePrivately)
        );
        assert_eq!(PrivateTarget::of(Tag::Private), None);
    }

    #[test]
    fn each_mode_says_why_it_is_closed() {
        let none = ReplyFacts::default();
        let fb = Channel::Facebook;
        assert_eq!(
            refusal(fb, ReplyMode::Public, &none, NOW),
            Some(Unavailable::NothingPublic)
        );
        assert_eq!(
            refusal(fb, ReplyMode::Private, &none, NOW),
            Some(Unavailable::NotInMessenger)
        );
        assert_eq!(
            refusal(fb, ReplyMode::PrivateResponse, &none, NOW),
            Some(Unavailable::NothingPublic)
        );
        // X: a DM may go whether or not the person wrote one; no Private Response.
        assert_eq!(
            refusal(Channel::Twitter, ReplyMode::Private, &none, NOW),
            None
        );
        assert_eq!(
            refusal(Channel::Twitter, ReplyMode::PrivateResponse, &none, NOW),
            Some(Unavailable::NotOnNetwork)
        );

        let facts = ReplyFacts {
            last_public: Some(line(Tag::PublicComment, 8 * DAY, false)),
            wrote_privately: true,
        };
        let modes = availability(fb, &facts, NOW);
        assert_eq!(
            modes
                .iter()
                .map(|m| (m.mode, m.available))
                .collect::<Vec<_>>(),
            [
                (ReplyMode::Public, true),
                (ReplyMode::Private, true),
                (ReplyMode::PrivateResponse, false)
            ]
        );
        let why = modes[2].reason.as_deref().unwrap();
        assert!(why.contains("more than 7 days old"), "{why}");
        assert!(why.contains("comment"), "{why}");
        assert_eq!(availability(Channel::Twitter, &facts, NOW).len(), 2);
    }

    #[test]
    fn each_mode_has_its_target_and_tag() {
        let cases = [
            (
                Channel::Twitter,
                ReplyMode::Public,
                Target::TwitterPublic,
                Tag::PublicThread,
            ),
            (
                Channel::Twitter,
                ReplyMode::Private,
                Target::TwitterDm,
                Tag::Private,
            ),
            (
                Channel::Facebook,
                ReplyMode::Public,
                Target::FacebookComment,
                Tag::PublicComment,
            ),
            (
                Channel::Facebook,
                ReplyMode::Private,
                Target::Messenger,
                Tag::Private,
            ),
            (
                Channel::Facebook,
                ReplyMode::PrivateResponse,
                Target::Messenger,
                Tag::Private,
            ),
        ];
        for (channel, mode, target, tag) in cases {
            assert_eq!(reply_target(channel, mode), target, "{channel} {mode:?}");
            assert_eq!(reply_tag(channel, mode), tag, "{channel} {mode:?}");
        }
        assert!(answers_last_public(ReplyMode::Public));
        assert!(answers_last_public(ReplyMode::PrivateResponse));
        assert!(!answers_last_public(ReplyMode::Private));
    }

    #[test]
    fn reasons_are_plain_words() {
        let said = Unavailable::AlreadyAnswered(PrivateTarget::Post).to_string();
        assert_eq!(
            said,
            "Their last post already has a private reply; Facebook allows one per post."
        );
        let json = serde_json::to_value(ModeAvailability {
            mode: ReplyMode::Public,
            available: true,
            reason: None,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"mode": "public", "available": true})
        );
    }
}
