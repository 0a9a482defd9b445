//! Automation's vocabulary: the settings an admin gives each linked page or account (the
//! built-in bot, an external bot, the satisfaction survey) and the pure rules the server
//! applies with them — phrase matching, opening hours, reading a survey answer.
//! Time zones are the server's business (it bundles the zone database); here a zone is
//! only its IANA name.

use crate::vocab::Channel;
use serde::{Deserialize, Serialize};

/// Which bot answers a linked account's private conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotKind {
    /// Greeting, away message, keyword rules and hand-over phrase, configured here.
    #[default]
    Builtin,
    /// Events POSTed to the bot's URL, answers through the bot API.
    External,
}

/// A day of the week, Monday first (ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// 1 for Monday … 7 for Sunday.
    pub fn iso_number(self) -> i8 {
        Day::ALL.iter().position(|d| *d == self).unwrap_or(0) as i8 + 1
    }

    pub fn label(self) -> &'static str {
        match self {
            Day::Mon => "Monday",
            Day::Tue => "Tuesday",
            Day::Wed => "Wednesday",
            Day::Thu => "Thursday",
            Day::Fri => "Friday",
            Day::Sat => "Saturday",
            Day::Sun => "Sunday",
        }
    }
}

/// Open from `open` until `close` (`"HH:MM"`, 24-hour, local to the account's zone) on
/// `day`. A day may have several spans; a day with none is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSpan {
    pub day: Day,
    pub open: String,
    pub close: String,
}

/// A keyword rule: when the consumer's text contains any of `phrases` (whole words, any
/// case), the bot answers `answer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordRule {
    pub phrases: Vec<String>,
    pub answer: String,
}

pub const DEFAULT_HANDOVER_PHRASE: &str = "agent";
pub const DEFAULT_HANDOVER_MESSAGE: &str =
    "Connecting you with a person now. Someone will answer you here shortly.";
pub const DEFAULT_SURVEY_QUESTION: &str =
    "How satisfied are you with our answer? Reply with a number from 1 (poor) to 5 (excellent).";
pub const DEFAULT_SURVEY_THANKS: &str = "Thank you for your answer!";

/// `PUT /api/automation/{linked_account_id}`: everything an admin sets for one linked
/// page or account. `GET /api/automation` answers it inside [`AutomationAccount`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutomationSettings {
    /// A bot answers private conversations (never public posts, comments or tweets).
    pub enabled: bool,
    pub bot: BotKind,
    /// Sent when the bot takes a conversation, inside opening hours.
    pub greeting: String,
    /// Sent instead of the greeting outside opening hours.
    pub away_message: String,
    /// IANA name, e.g. `Europe/Paris`; opening hours are in this zone.
    pub time_zone: String,
    /// When people are at work. Empty: always open (no away message).
    pub hours: Vec<OpenSpan>,
    pub rules: Vec<KeywordRule>,
    /// The consumer writes this to be handed to a person.
    pub handover_phrase: String,
    /// What the built-in bot says when it hands over (empty: nothing).
    pub handover_message: String,
    /// The external bot's events URL (http or https; public addresses only).
    pub external_url: String,
    /// How long the external bot may take to acknowledge an event (ms).
    pub external_timeout_ms: u32,
    /// How long the external bot may take to answer or hand over after an event (s).
    pub external_answer_within_secs: u32,
    /// Ask for 1–5 when a private conversation closes.
    pub survey: bool,
    pub survey_question: String,
    pub survey_thanks: String,
}

impl Default for AutomationSettings {
    fn default() -> Self {
        AutomationSettings {
            enabled: false,
            bot: BotKind::Builtin,
            greeting: String::new(),
            away_message: String::new(),
            time_zone: "UTC".into(),
            hours: Vec::new(),
            rules: Vec::new(),
            handover_phrase: DEFAULT_HANDOVER_PHRASE.into(),
            handover_message: DEFAULT_HANDOVER_MESSAGE.into(),
            external_url: String::new(),
            external_timeout_ms: 5_000,
            external_answer_within_secs: 60,
            survey: false,
            survey_question: DEFAULT_SURVEY_QUESTION.into(),
            survey_thanks: DEFAULT_SURVEY_THANKS.into(),
        }
    }
}

/// Longest text an admin may give any one message or phrase.
pub const MAX_TEXT: usize = 2_000;
pub const MAX_RULES: usize = 100;
pub const MAX_SPANS: usize = 28;

impl AutomationSettings {
    /// Checks everything but the time zone's existence and the URL's addresses (the
    /// server's to judge); returns the first problem in words for the admin.
    pub fn check(&self) -> Result<(), String> {
        let texts = [
            ("greeting", &self.greeting),
            ("away message", &self.away_message),
            ("hand-over message", &self.handover_message),
            ("survey question", &self.survey_question),
            ("survey thanks", &self.survey_thanks),
        ];
        for (what, text) in texts {
            if text.chars().count() > MAX_TEXT {
                return Err(format!("the {what} is over {MAX_TEXT} characters"));
            }
        }
        if normalise(&self.handover_phrase).is_empty() {
            return Err("the hand-over phrase must have a word in it".into());
        }
        if self.rules.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} keyword rules"));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.phrases.iter().all(|p| normalise(p).is_empty()) {
                return Err(format!("keyword rule {} has no phrase", i + 1));
            }
            if rule.answer.trim().is_empty() {
                return Err(format!("keyword rule {} has no answer", i + 1));
            }
            if rule.answer.chars().count() > MAX_TEXT {
                return Err(format!(
                    "keyword rule {}'s answer is over {MAX_TEXT} characters",
                    i + 1
                ));
            }
        }
        if self.hours.len() > MAX_SPANS {
            return Err(format!("at most {MAX_SPANS} opening spans"));
        }
        for span in &self.hours {
            let (Some(open), Some(close)) = (minute_of_day(&span.open), minute_of_day(&span.close))
            else {
                return Err(format!(
                    "{}: times are HH:MM, 24-hour (00:00 to 24:00)",
                    span.day.label()
                ));
            };
            if open >= close {
                return Err(format!(
                    "{}: {} is not before {}",
                    span.day.label(),
                    span.open,
                    span.close
                ));
            }
        }
        if self.survey && self.survey_question.trim().is_empty() {
            return Err("the survey needs a question".into());
        }
        if self.enabled && self.bot == BotKind::External && self.external_url.trim().is_empty() {
            return Err("an external bot needs its URL".into());
        }
        if !(200..=30_000).contains(&self.external_timeout_ms) {
            return Err("the external bot's timeout is 200 to 30000 ms".into());
        }
        if !(5..=3_600).contains(&self.external_answer_within_secs) {
            return Err("the external bot's answer time is 5 to 3600 seconds".into());
        }
        Ok(())
    }

    /// Open at `minute` (0–1439) of `day`, local time. No hours at all: always open.
    pub fn open_at(&self, day: Day, minute: u32) -> bool {
        if self.hours.is_empty() {
            return true;
        }
        self.hours.iter().any(|s| {
            s.day == day
                && matches!(
                    (minute_of_day(&s.open), minute_of_day(&s.close)),
                    (Some(o), Some(c)) if o <= minute && minute < c
                )
        })
    }

    /// The answer of the first rule whose phrase `text` contains.
    pub fn rule_answer(&self, text: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.phrases.iter().any(|p| contains_phrase(text, p)))
            .map(|r| r.answer.as_str())
    }

    pub fn asks_for_handover(&self, text: &str) -> bool {
        contains_phrase(text, &self.handover_phrase)
    }
}

/// `"HH:MM"` → minutes since midnight; `"24:00"` is the end of the day.
pub fn minute_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Lower case, every run of non-alphanumeric characters one space, trimmed.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    out.trim_end().to_owned()
}

/// `phrase` appears in `text` as whole words, whatever the case and punctuation:
/// "agent" is in "Agent, please!" but not in "agents" or "reagent".
pub fn contains_phrase(text: &str, phrase: &str) -> bool {
    let phrase = normalise(phrase);
    if phrase.is_empty() {
        return false;
    }
    let text = format!(" {} ", normalise(text));
    text.contains(&format!(" {phrase} "))
}

/// A survey answer: 1 to 5, alone or followed by words ("4", "5!", "3 - ok"); anything
/// else is not an answer.
pub fn survey_score(text: &str) -> Option<u8> {
    let t = text.trim();
    let mut chars = t.chars();
    let first = chars.next()?.to_digit(10)?;
    let rest = chars.as_str();
    let followed_by_digit = rest.chars().next().is_some_and(|c| c.is_ascii_digit());
    let decimal =
        rest.starts_with(['.', ',']) && rest[1..].starts_with(|c: char| c.is_ascii_digit());
    ((1..=5).contains(&first) && !followed_by_digit && !decimal).then_some(first as u8)
}

/// Opening hours as an admin types them: one span a line, `mon 09:00 17:00`.
pub fn hours_text(hours: &[OpenSpan]) -> String {
    hours
        .iter()
        .map(|h| {
            let day = serde_json::to_value(h.day)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{day} {} {}", h.open, h.close)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads [`hours_text`]'s form back; the first line it cannot read is the error.
pub fn parse_hours(text: &str) -> Result<Vec<OpenSpan>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [day, open, close] = parts[..] else {
            return Err(format!(
                "“{line}”: write a day, an opening and a closing time"
            ));
        };
        let day: Day = serde_json::from_value(serde_json::Value::String(day.to_ascii_lowercase()))
            .map_err(|_| format!("“{line}”: the day is mon, tue, wed, thu, fri, sat or sun"))?;
        out.push(OpenSpan {
            day,
            open: open.to_owned(),
            close: close.to_owned(),
        });
    }
    Ok(out)
}

/// Keyword rules as an admin types them: one a line, `phrase, other phrase => answer`.
pub fn rules_text(rules: &[KeywordRule]) -> String {
    rules
        .iter()
        .map(|r| format!("{} => {}", r.phrases.join(", "), r.answer))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn parse_rules(text: &str) -> Result<Vec<KeywordRule>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((phrases, answer)) = line.split_once("=>") else {
            return Err(format!(
                "“{line}”: write the phrases, then => and the answer"
            ));
        };
        out.push(KeywordRule {
            phrases: phrases
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            answer: answer.trim().to_owned(),
        });
    }
    Ok(out)
}

/// One linked page or account with its automation, as `GET /api/automation` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationAccount {
    pub linked_account_id: i64,
    pub channel: Channel,
    pub name: String,
    pub settings: AutomationSettings,
    /// The external bot has a secret and token (they are shown only when made).
    pub has_credentials: bool,
}

/// `POST /api/automation/{id}/credentials`: a new signing secret and API token for the
/// external bot, shown this once (the server keeps the secret sealed and only a hash of
/// the token); the previous pair stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotCredentials {
    pub secret: String,
    pub token: String,
}

/// `POST /api/bot/conversations/{id}/replies` (bot token): the bot's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotReply {
    pub text: String,
}

/// `POST /api/bot/conversations/{id}/handover` (bot token): hand to people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BotHandover {
    /// Why, for the log and the agent (not shown to the consumer).
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_words_in_any_case() {
        assert!(contains_phrase("Agent, please!", "agent"));
        assert!(contains_phrase("I want a  HUMAN being", "human being"));
        assert!(contains_phrase("agent", " Agent "));
        assert!(!contains_phrase("two agents", "agent"));
        assert!(!contains_phrase("reagent", "agent"));
        assert!(!contains_phrase("anything", "  "));
        assert!(contains_phrase("où est ma COMMANDE?", "commande"));
    }

    #[test]
    fn survey_answers_are_one_to_five() {
        for (text, want) in [
            ("5", Some(5)),
            (" 4 ", Some(4)),
            ("3 - ok", Some(3)),
            ("1!", Some(1)),
            ("0", None),
            ("6", None),
            ("10", None),
            ("4.5", None),
            ("great", None),
            ("", None),
        ] {
            assert_eq!(survey_score(text), want, "{text:?}");
        }
    }

    #[test]
    fn hours_are_checked_and_applied() {
        let mut s = AutomationSettings::default();
        assert!(s.open_at(Day::Sun, 3 * 60), "no hours: always open");
        s.hours = vec![OpenSpan {
            day: Day::Mon,
            open: "09:00".into(),
            close: "17:30".into(),
        }];
        assert!(s.check().is_ok());
        assert!(s.open_at(Day::Mon, 9 * 60));
        assert!(s.open_at(Day::Mon, 17 * 60 + 29));
        assert!(!s.open_at(Day::Mon, 17 * 60 + 30));
        assert!(!s.open_at(Day::Tue, 10 * 60));
        s.hours[0].close = "08:00".into();
        assert!(s.check().unwrap_err().contains("not before"));
        s.hours[0].close = "25:00".into();
        assert!(s.check().is_err());
        assert_eq!(minute_of_day("24:00"), Some(1440));
        assert_eq!(minute_of_day("9:00"), None);
    }

    #[test]
    fn settings_need_what_they_use() {
        let mut s = AutomationSettings {
            enabled: true,
            bot: BotKind::External,
            ..Default::default()
        };
        assert!(s.check().unwrap_err().contains("URL"));
        s.external_url = "https://bot.example/events".into();
        assert!(s.check().is_ok());
        s.handover_phrase = " ! ".into();
        assert!(s.check().is_err());
        s.handover_phrase = "agent".into();
        s.rules.push(KeywordRule {
            phrases: vec!["refund".into()],
            answer: String::new(),
        });
        assert!(s.check().unwrap_err().contains("no answer"));
        s.rules[0].answer = "Refunds take 5 days.".into();
        assert_eq!(s.rule_answer("REFUND please"), Some("Refunds take 5 days."));
        assert_eq!(s.rule_answer("refunds"), None);
    }

    #[test]
    fn a_partial_body_takes_the_defaults() {
        let s: AutomationSettings = serde_json::from_str(r#"{"enabled":true}"#).unwrap();
        assert!(s.enabled);
        assert_eq!(s.handover_phrase, "agent");
        assert_eq!(s.time_zone, "UTC");
    }

    #[test]
    fn hours_and_rules_round_trip_through_their_text() {
        let hours = parse_hours("mon 09:00 17:00\n\n Fri 10:00 12:00 ").unwrap();
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[1].day, Day::Fri);
        assert_eq!(hours_text(&hours), "mon 09:00 17:00\nfri 10:00 12:00");
        assert!(parse_hours("monday 9 5").is_err());
        assert!(parse_hours("xyz 09:00 10:00").is_err());
        let rules = parse_rules("order, where is => Track it here\nrefund=>5 days").unwrap();
        assert_eq!(rules[0].phrases, ["order", "where is"]);
        assert_eq!(rules[1].answer, "5 days");
        assert_eq!(
            rules_text(&rules),
            "order, where is => Track it here\nrefund => 5 days"
        );
        assert!(parse_rules("no arrow here").is_err());
    }
}
