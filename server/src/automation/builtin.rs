//! The built-in bot's turn: what it says to one consumer line and whether it hands over.
//! Pure, so every branch is tested without a network or a clock.

use shared::automation::{AutomationSettings, Day};

/// What the bot does with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Said in this order.
    pub replies: Vec<String>,
    /// `Some(reason)`: hand the conversation to people after the replies.
    pub handover: Option<String>,
    /// The away message has been said in this bot session.
    pub away_sent: bool,
}

/// Where the line stands: the first of the bot's session, whether people are at work,
/// whether the away message was said already.
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    pub first: bool,
    pub open: bool,
    pub away_sent: bool,
}

fn said(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The hand-over phrase goes to people at once. Outside opening hours the away message is
/// said once, and what no rule answers waits for people; inside, the first line is
/// greeted, a rule's answer follows, and a line no rule answers (after the greeting's
/// turn) goes to people.
pub fn turn(s: &AutomationSettings, text: &str, at: Moment) -> Turn {
    if s.asks_for_handover(text) {
        return Turn {
            replies: said(&s.handover_message).into_iter().collect(),
            handover: Some("the consumer asked for a person".into()),
            away_sent: at.away_sent,
        };
    }
    let mut replies = Vec::new();
    let mut away_sent = at.away_sent;
    if !at.open {
        if !away_sent && let Some(away) = said(&s.away_message) {
            replies.push(away);
            away_sent = true;
        }
    } else if at.first
        && let Some(greeting) = said(&s.greeting)
    {
        replies.push(greeting);
    }
    if let Some(answer) = s.rule_answer(text).and_then(said) {
        replies.push(answer);
        return Turn {
            replies,
            handover: None,
            away_sent,
        };
    }
    let handover = if !at.open {
        Some("outside opening hours".to_owned())
    } else if at.first && !replies.is_empty() {
        // Greeted: the consumer's question comes next.
        None
    } else {
        replies.extend(said(&s.handover_message));
        Some("the bot had no answer".to_owned())
    };
    Turn {
        replies,
        handover,
        away_sent,
    }
}

/// Whether people are at work at `now_ms` in the settings' zone. An unknown zone counts
/// as UTC (settings are checked when saved, so only a zone removed from the database since
/// gets here).
pub fn open_at(s: &AutomationSettings, now_ms: i64) -> bool {
    if s.hours.is_empty() {
        return true;
    }
    let tz = jiff::tz::TimeZone::get(&s.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let Ok(ts) = jiff::Timestamp::from_millisecond(now_ms) else {
        return true;
    };
    let local = ts.to_zoned(tz);
    let day = Day::ALL[(local.weekday().to_monday_one_offset() - 1) as usize];
    let minute = local.hour() as u32 * 60 + local.minute() as u32;
    s.open_at(day, minute)
}

/// A known IANA zone name.
pub fn zone_exists(name: &str) -> bool {
    jiff::tz::TimeZone::get(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::automation::{KeywordRule, OpenSpan};

    fn settings() -> AutomationSettings {
        AutomationSettings {
            enabled: true,
            greeting: "Hi! How can we help?".into(),
            away_message: "We are closed; we answer from 9:00.".into(),
            rules: vec![KeywordRule {
                phrases: vec!["order".into(), "where is".into()],
                answer: "Track it at acme.example/track".into(),
            }],
            ..Default::default()
        }
    }

    const FIRST_OPEN: Moment = Moment {
        first: true,
        open: true,
        away_sent: false,
    };

    #[test]
    fn greets_then_answers_by_rule() {
        let t = turn(&settings(), "Where is my order?", FIRST_OPEN);
        assert_eq!(
            t.replies,
            ["Hi! How can we help?", "Track it at acme.example/track"]
        );
        assert_eq!(t.handover, None);
        let t = turn(&settings(), "hello", FIRST_OPEN);
        assert_eq!(t.replies, ["Hi! How can we help?"]);
        assert_eq!(t.handover, None, "greeted: waits for the question");
    }

    #[test]
    fn no_answer_after_the_greeting_goes_to_people() {
        let t = turn(
            &settings(),
            "my zip broke",
            Moment {
                first: false,
                ..FIRST_OPEN
            },
        );
        assert_eq!(t.replies, [shared::automation::DEFAULT_HANDOVER_MESSAGE]);
        assert_eq!(t.handover.as_deref(), Some("the bot had no answer"));
    }

    #[test]
    fn the_phrase_hands_over_at_once() {
        let mut s = settings();
        s.handover_phrase = "human please".into();
        let t = turn(&s, "Human, PLEASE", FIRST_OPEN);
        assert_eq!(t.replies, [shared::automation::DEFAULT_HANDOVER_MESSAGE]);
        assert!(t.handover.is_some());
        assert!(turn(&s, "agent", FIRST_OPEN).handover.is_none());
    }

    #[test]
    fn away_once_outside_hours_then_people() {
        let closed = Moment {
            open: false,
            ..FIRST_OPEN
        };
        let t = turn(&settings(), "hello?", closed);
        assert_eq!(t.replies, ["We are closed; we answer from 9:00."]);
        assert_eq!(t.handover.as_deref(), Some("outside opening hours"));
        assert!(t.away_sent);
        let t = turn(
            &settings(),
            "where is my order",
            Moment {
                away_sent: true,
                first: false,
                ..closed
            },
        );
        assert_eq!(t.replies, ["Track it at acme.example/track"]);
        assert_eq!(t.handover, None);
    }

    #[test]
    fn opening_hours_follow_the_zone() {
        let mut s = settings();
        s.time_zone = "Europe/Paris".into();
        s.hours = vec![OpenSpan {
            day: Day::Mon,
            open: "09:00".into(),
            close: "17:00".into(),
        }];
        // Monday 2026-11-30 08:30 UTC is 09:30 in Paris (CET, UTC+1).
        let monday_0830_utc = 1_796_027_400_000;
        assert!(open_at(&s, monday_0830_utc));
        s.time_zone = "UTC".into();
        assert!(!open_at(&s, monday_0830_utc));
        // Sunday 2026-11-29 12:00 UTC: closed whatever the zone.
        s.time_zone = "America/New_York".into();
        assert!(!open_at(&s, 1_795_953_600_000));
        assert!(zone_exists("Asia/Kolkata"));
        assert!(!zone_exists("Mars/Olympus"));
    }
}
