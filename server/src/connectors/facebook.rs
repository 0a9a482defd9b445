//! The Graph API: `appsecret_proof` on every token call, page webhook subscriptions, the
//! Send API (with the only messaging types and tag we may send) and its refusals.

use super::NetworkError;
use serde_json::Value;
use shared::ids::IdKind;

/// `appsecret_proof` = hex HMAC-SHA256(app secret, access token), required by apps that
/// enable "Require App Secret" (Graph API: Securing Requests).
pub fn appsecret_proof(app_secret: &str, token: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The fields the app subscribes a page to.
pub const SUBSCRIBED_FIELDS: &str = "feed,messages,message_echoes";

/// What the Send API answered: `{recipient_id, message_id}`. For a private reply to a
/// comment or post, `recipient_id` is the first sight of the person's page-scoped id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
    pub recipient_id: Option<String>,
}

impl Sent {
    fn from_answer(answer: &Value, what: &str) -> Result<Self, super::SendFailure> {
        Ok(Sent {
            message_id: super::id_from(answer, "/message_id", "Facebook", what)?,
            recipient_id: answer
                .get("recipient_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

pub struct Graph<'a> {
    pub http: &'a reqwest::Client,
    /// Base, version included, e.g. `https://graph.facebook.com/v24.0`.
    pub base: &'a str,
    pub app_secret: &'a str,
}

impl Graph<'_> {
    /// `POST /{page-id}/subscribed_apps` with the page token: the page's webhooks start.
    pub async fn subscribe_page(
        &self,
        page_id: &str,
        page_token: &str,
    ) -> Result<(), NetworkError> {
        let page_id = IdKind::FacebookNode.check(page_id).map_err(bad_id)?;
        let url = format!(
            "{}/{page_id}/subscribed_apps",
            self.base.trim_end_matches('/')
        );
        let res = self
            .http
            .post(url)
            .query(&[
                ("subscribed_fields", SUBSCRIBED_FIELDS),
                ("access_token", page_token),
                (
                    "appsecret_proof",
                    &appsecret_proof(self.app_secret, page_token),
                ),
            ])
            .send()
            .await
            .map_err(transport)?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status)
            && body.get("success").and_then(Value::as_bool) == Some(true)
        {
            Ok(())
        } else {
            Err(graph_error(status, &body))
        }
    }
}

/// An id that would not make the call it names: refused before anything is sent.
pub(crate) fn bad_id(e: shared::ids::BadId) -> NetworkError {
    NetworkError {
        network: "Facebook",
        status: 0,
        code: None,
        message: format!("not asked: {e}"),
    }
}

/// A transport failure, without the URL: its query carries the access token.
fn transport(e: reqwest::Error) -> NetworkError {
    NetworkError {
        network: "Facebook",
        status: 0,
        code: None,
        message: format!("could not reach the Graph API: {}", e.without_url()),
    }
}

/// `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
pub fn graph_error(status: u16, body: &Value) -> NetworkError {
    let e = body.get("error");
    NetworkError {
        network: "Facebook",
        status,
        code: e.and_then(|e| e.get("code")).and_then(Value::as_i64),
        message: e
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("unexpected answer")
            .to_owned(),
    }
}

/// Graph error codes worth retrying: 1 and 2 (temporary), 4, 17, 32, 613 (rate limits).
const TRANSIENT_CODES: [i64; 6] = [1, 2, 4, 17, 32, 613];

/// Send API code 10, subcode 1893063: "Pages temporarily restricted from sending" (Meta,
/// 2026). Permanent for that send; the agent and the admin are told.
pub const SENDING_RESTRICTED: (i64, i64) = (10, 1_893_063);

/// Graph's code for a second private reply to one post or comment ("Activity already
/// replied to").
const ALREADY_REPLIED: i64 = 10_900;

/// What the agent reads on a line the page was not allowed to send.
pub const SENDING_RESTRICTED_WORDS: &str =
    "Facebook has temporarily restricted this page from sending messages";

pub fn classify(status: u16, body: &Value) -> super::SendFailure {
    let e = graph_error(status, body);
    crate::metrics::send_error("facebook", &e);
    let code = e.code.unwrap_or_default();
    let subcode = body.pointer("/error/error_subcode").and_then(Value::as_i64);
    if (code, subcode) == (SENDING_RESTRICTED.0, Some(SENDING_RESTRICTED.1)) {
        let (c, s) = SENDING_RESTRICTED;
        return super::SendFailure::Permanent {
            message: format!("{SENDING_RESTRICTED_WORDS} (code {c}, subcode {s})"),
            token_invalid: false,
            sending_restricted: true,
        };
    }
    if code == ALREADY_REPLIED {
        // Answered privately elsewhere (the page's own inbox) or by another agent at the
        // same moment: the rule the reply endpoint checks could not see it coming.
        return super::SendFailure::Permanent {
            message: format!(
                "Facebook allows one private reply per post or comment, and this one already \
                 has it: {} (code {code})",
                e.message
            ),
            token_invalid: false,
            sending_restricted: false,
        };
    }
    let message = match (e.code, subcode) {
        (Some(c), Some(s)) => format!("Facebook: {} (code {c}, subcode {s})", e.message),
        (Some(c), None) => format!("Facebook: {} (code {c})", e.message),
        (None, _) => format!("Facebook answered {status}: {}", e.message),
    };
    if status >= 500 || TRANSIENT_CODES.contains(&code) {
        super::SendFailure::Transient {
            message,
            retry_after: None,
        }
    } else {
        super::SendFailure::Permanent {
            message,
            token_invalid: code == 190,
            sending_restricted: false,
        }
    }
}

/// Whom a Send API message goes to: a person by page-scoped id, or the author of a visitor
/// post or a comment by a private reply (Messenger Platform, "Private Replies": a post is
/// `recipient.post_id`, a comment `recipient.comment_id`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Recipient {
    #[serde(rename = "id")]
    Psid(String),
    #[serde(rename = "post_id")]
    Post(String),
    #[serde(rename = "comment_id")]
    Comment(String),
}

impl Recipient {
    /// A private reply to `object_id`, a post or a comment as `target` says.
    pub fn private_reply(target: shared::replies::PrivateTarget, object_id: &str) -> Recipient {
        match target {
            shared::replies::PrivateTarget::Post => Recipient::Post(object_id.to_owned()),
            shared::replies::PrivateTarget::Comment => Recipient::Comment(object_id.to_owned()),
        }
    }

    /// `{"id": …}`, `{"post_id": …}` or `{"comment_id": …}`.
    fn to_json(&self) -> Value {
        // One externally tagged variant: a one-key object.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// How a Send API message is typed. These are the only two we may send: inside 24 hours of
/// the person's last message (and every private reply) `messaging_type: RESPONSE`; a human
/// agent's reply between 24 hours and 7 days `MESSAGE_TAG` with `HUMAN_AGENT`. No other
/// tag can be expressed: from 2026-04-27 Meta refuses `CONFIRMED_EVENT_UPDATE`,
/// `ACCOUNT_UPDATE` and `POST_PURCHASE_UPDATE` (code 100), and bots are never tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Messaging(Typing);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Typing {
    Response,
    HumanAgent,
}

/// Who wrote a reply, as far as Messenger's tags care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    Person,
    Bot,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

impl Messaging {
    /// `RESPONSE`: a reply inside the standard window, or a private reply.
    pub const RESPONSE: Messaging = Messaging(Typing::Response);

    /// The typing of a Messenger reply by `writer`, `since_ms` after the person's last
    /// message (`None`: they never wrote). Only a person's reply between 24 hours and
    /// 7 days is tagged; anything else goes as `RESPONSE` and Facebook decides.
    pub fn for_reply(writer: Writer, since_ms: Option<i64>) -> Messaging {
        match (writer, since_ms) {
            (Writer::Person, Some(s)) if s > DAY_MS && s <= 7 * DAY_MS => {
                Messaging(Typing::HumanAgent)
            }
            _ => Messaging::RESPONSE,
        }
    }

    /// The `messaging_type` field.
    pub fn messaging_type(self) -> &'static str {
        match self.0 {
            Typing::Response => "RESPONSE",
            Typing::HumanAgent => "MESSAGE_TAG",
        }
    }

    /// The `tag` field, when there is one.
    pub fn tag(self) -> Option<&'static str> {
        match self.0 {
            Typing::Response => None,
            Typing::HumanAgent => Some("HUMAN_AGENT"),
        }
    }
}

impl Graph<'_> {
    async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Result<Value, super::SendFailure> {
        let url = format!("{}{path}", self.base.trim_end_matches('/'));
        let res = self
            .http
            .post(url)
            .query(&[
                ("access_token", token),
                ("appsecret_proof", &appsecret_proof(self.app_secret, token)),
            ])
            .json(body)
            .send()
            .await
            .map_err(|e| super::transport_failure("Facebook", e))?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(classify(status, &body))
        }
    }

    /// Send API `POST /me/messages` to `recipient`, typed by `messaging`. Returns the
    /// message id.
    pub async fn send_message(
        &self,
        token: &str,
        recipient: &Recipient,
        text: &str,
        messaging: Messaging,
    ) -> Result<Sent, super::SendFailure> {
        let mut body = serde_json::json!({
            "recipient": recipient.to_json(),
            "messaging_type": messaging.messaging_type(),
            "message": { "text": text },
        });
        if let Some(tag) = messaging.tag() {
            body["tag"] = tag.into();
        }
        let answer = self.post_json("/me/messages", token, &body).await?;
        Sent::from_answer(&answer, "message")
    }

    /// Send API with an image uploaded in the request (multipart: `recipient`, `message`
    /// as JSON with `attachment: {type: "image", payload: {is_reusable: true}}`, and the
    /// file as `filedata`). A message carries text or an attachment, never both (Send API
    /// reference), so text goes in a message of its own. Returns the message id.
    pub async fn send_image(
        &self,
        token: &str,
        recipient: &Recipient,
        image: Vec<u8>,
        mime: &str,
        messaging: Messaging,
    ) -> Result<Sent, super::SendFailure> {
        let ext = mime.strip_prefix("image/").unwrap_or("bin");
        let file = reqwest::multipart::Part::bytes(image)
            .file_name(format!("image.{ext}"))
            .mime_str(mime)
            .map_err(|e| super::SendFailure::Permanent {
                message: format!("the image type cannot be sent: {e}"),
                token_invalid: false,
                sending_restricted: false,
            })?;
        let message = serde_json::json!({
            "attachment": { "type": "image", "payload": { "is_reusable": true } }
        });
        let mut form = reqwest::multipart::Form::new()
            .text("recipient", recipient.to_json().to_string())
            .text("message", message.to_string())
            .text("messaging_type", messaging.messaging_type());
        if let Some(tag) = messaging.tag() {
            form = form.text("tag", tag);
        }
        let form = form.part("filedata", file);
        let url = format!("{}/me/messages", self.base.trim_end_matches('/'));
        let res = self
            .http
            .post(url)
            .query(&[
                ("access_token", token),
                ("appsecret_proof", &appsecret_proof(self.app_secret, token)),
            ])
            .multipart(form)
            // Uploads are larger than a text send: give them longer.
            .timeout(std::time::Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| super::transport_failure("Facebook", e))?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(classify(status, &body));
        }
        Sent::from_answer(&body, "image")
    }

    /// `POST /{object-id}/comments`: a public reply under a post or comment, with an image
    /// Facebook fetches from `attachment_url`. Returns the comment id.
    pub async fn comment(
        &self,
        token: &str,
        object_id: &str,
        text: &str,
        attachment_url: Option<&str>,
    ) -> Result<String, super::SendFailure> {
        let object_id = IdKind::FacebookObject
            .check(object_id)
            .map_err(|e| super::SendFailure::permanent(format!("not sent: {e}")))?;
        let mut body = serde_json::json!({ "message": text });
        if let Some(url) = attachment_url {
            body["attachment_url"] = url.into();
        }
        let answer = self
            .post_json(&format!("/{object_id}/comments"), token, &body)
            .await?;
        super::id_from(&answer, "/id", "Facebook", "comment")
    }
}

/// The profile fields asked for; `locale`, `timezone` and `gender` need app-reviewed
/// permissions and are often absent (EU users): what comes is stored, nothing invented.
pub const PROFILE_FIELDS: &str = "first_name,last_name,name,profile_pic,locale,timezone,gender";

impl Graph<'_> {
    /// `GET /{psid}?fields=...` with the page token: the consumer's profile as given.
    pub async fn profile(&self, token: &str, psid: &str) -> Result<Value, NetworkError> {
        let psid = IdKind::FacebookNode.check(psid).map_err(bad_id)?;
        let url = format!("{}/{psid}", self.base.trim_end_matches('/'));
        let res = self
            .http
            .get(url)
            .query(&[
                ("fields", PROFILE_FIELDS),
                ("access_token", token),
                ("appsecret_proof", &appsecret_proof(self.app_secret, token)),
            ])
            .send()
            .await
            .map_err(transport)?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(graph_error(status, &body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_is_hex_hmac_sha256_of_the_token() {
        // Independent check: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog")
        // from RFC 4231-style published vectors.
        assert_eq!(
            appsecret_proof("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn only_response_and_human_agent_can_be_sent() {
        let h = 3600 * 1000;
        let cases = [
            (Writer::Person, None, ("RESPONSE", None)),
            (Writer::Person, Some(2 * h), ("RESPONSE", None)),
            (Writer::Person, Some(24 * h), ("RESPONSE", None)),
            (
                Writer::Person,
                Some(25 * h),
                ("MESSAGE_TAG", Some("HUMAN_AGENT")),
            ),
            (
                Writer::Person,
                Some(7 * 24 * h),
                ("MESSAGE_TAG", Some("HUMAN_AGENT")),
            ),
            // Past 7 days no tag helps: it goes as a response and Facebook refuses it.
            (Writer::Person, Some(7 * 24 * h + 1), ("RESPONSE", None)),
            (Writer::Bot, Some(2 * h), ("RESPONSE", None)),
            (Writer::Bot, Some(25 * h), ("RESPONSE", None)),
        ];
        for (writer, since, want) in cases {
            let m = Messaging::for_reply(writer, since);
            assert_eq!((m.messaging_type(), m.tag()), want, "{writer:?} {since:?}");
        }
    }

    #[test]
    fn private_replies_name_a_post_by_post_id_and_a_comment_by_comment_id() {
        use shared::replies::PrivateTarget;
        assert_eq!(
            Recipient::private_reply(PrivateTarget::Post, "1_2").to_json(),
            serde_json::json!({"post_id": "1_2"})
        );
        assert_eq!(
            Recipient::private_reply(PrivateTarget::Comment, "2_3").to_json(),
            serde_json::json!({"comment_id": "2_3"})
        );
        assert_eq!(
            Recipient::Psid("77".into()).to_json(),
            serde_json::json!({"id": "77"})
        );
    }

    #[test]
    fn a_page_restricted_from_sending_is_a_permanent_failure_in_plain_words() {
        let body = serde_json::json!({"error": {"message": "(#10) Pages temporarily restricted from sending", "type": "OAuthException", "code": 10, "error_subcode": 1893063, "fbtrace_id": "x"}});
        let super::super::SendFailure::Permanent {
            message,
            token_invalid,
            sending_restricted,
        } = classify(400, &body)
        else {
            panic!("not permanent");
        };
        assert!(sending_restricted && !token_invalid);
        assert!(
            message
                .starts_with("Facebook has temporarily restricted this page from sending messages"),
            "{message}"
        );
        // Code 10 without that subcode is the messaging window, not a restriction.
        let window = serde_json::json!({"error": {"message": "This message is sent outside of allowed window.", "code": 10, "error_subcode": 2018278}});
        let failure = classify(400, &window);
        assert!(matches!(
            failure,
            super::super::SendFailure::Permanent {
                sending_restricted: false,
                ..
            }
        ));
        assert!(failure.message().contains("outside of allowed window"));
        assert!(failure.message().contains("subcode 2018278"));
    }

    #[test]
    fn a_second_private_reply_is_refused_in_plain_words() {
        let body = serde_json::json!({"error": {"message": "Activity already replied to", "type": "OAuthException", "code": 10900}});
        let failure = classify(400, &body);
        assert!(matches!(
            failure,
            super::super::SendFailure::Permanent { .. }
        ));
        assert!(
            failure
                .message()
                .starts_with("Facebook allows one private reply per post or comment"),
            "{}",
            failure.message()
        );
    }

    #[test]
    fn graph_errors_keep_the_networks_words() {
        let body = serde_json::json!({"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"x"}});
        let e = graph_error(400, &body);
        assert_eq!(e.code, Some(190));
        assert_eq!(e.message, "Invalid OAuth access token.");
    }
}
