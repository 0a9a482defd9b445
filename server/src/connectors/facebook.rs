//! The Graph API: `appsecret_proof` on every token call, page webhook subscriptions.

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

pub fn classify(status: u16, body: &Value) -> super::SendFailure {
    let e = graph_error(status, body);
    let code = e.code.unwrap_or_default();
    let message = match e.code {
        Some(c) => format!("Facebook: {} (code {c})", e.message),
        None => format!("Facebook answered {status}: {}", e.message),
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

    /// Send API `POST /me/messages`: `recipient` is `{"id": PSID}` or, for a private
    /// reply to a comment or post, `{"comment_id": ...}` / `{"post_id": ...}`. Returns the
    /// message id.
    pub async fn send_message(
        &self,
        token: &str,
        recipient: Value,
        text: &str,
        human_agent: bool,
    ) -> Result<Sent, super::SendFailure> {
        let mut body = serde_json::json!({
            "recipient": recipient,
            "messaging_type": "RESPONSE",
            "message": { "text": text },
        });
        if human_agent {
            // Between 24 hours and 7 days after the person's last message only a human
            // agent's reply may go, tagged HUMAN_AGENT (Messenger Platform policy).
            body["messaging_type"] = "MESSAGE_TAG".into();
            body["tag"] = "HUMAN_AGENT".into();
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
        recipient: Value,
        image: Vec<u8>,
        mime: &str,
        human_agent: bool,
    ) -> Result<Sent, super::SendFailure> {
        let ext = mime.strip_prefix("image/").unwrap_or("bin");
        let file = reqwest::multipart::Part::bytes(image)
            .file_name(format!("image.{ext}"))
            .mime_str(mime)
            .map_err(|e| super::SendFailure::Permanent {
                message: format!("the image type cannot be sent: {e}"),
                token_invalid: false,
            })?;
        let message = serde_json::json!({
            "attachment": { "type": "image", "payload": { "is_reusable": true } }
        });
        let mut form = reqwest::multipart::Form::new()
            .text("recipient", recipient.to_string())
            .text("message", message.to_string());
        if human_agent {
            form = form
                .text("messaging_type", "MESSAGE_TAG")
                .text("tag", "HUMAN_AGENT");
        } else {
            form = form.text("messaging_type", "RESPONSE");
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
        let object_id =
            IdKind::FacebookObject
                .check(object_id)
                .map_err(|e| super::SendFailure::Permanent {
                    message: format!("not sent: {e}"),
                    token_invalid: false,
                })?;
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
    fn graph_errors_keep_the_networks_words() {
        let body = serde_json::json!({"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"x"}});
        let e = graph_error(400, &body);
        assert_eq!(e.code, Some(190));
        assert_eq!(e.message, "Invalid OAuth access token.");
    }
}
