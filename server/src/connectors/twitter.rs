//! The X API: OAuth 1.0a request signing (user context), app-only Bearer tokens, webhook
//! registration (X runs its CRC against us) and X Activity API subscriptions.

use super::NetworkError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use shared::ids::IdKind;

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (RFC 5849 §3.6).
const OAUTH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, OAUTH_ENCODE).to_string()
}

/// The app's and the account's OAuth 1.0a credentials.
#[derive(Clone)]
pub struct OAuth1<'a> {
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
    pub token: &'a str,
    pub token_secret: &'a str,
}

impl OAuth1<'_> {
    /// The `Authorization: OAuth ...` header for a request. `params` are the query and
    /// form-body parameters (a JSON body is not signed).
    pub fn header(&self, method: &str, url: &str, params: &[(&str, &str)]) -> String {
        let mut nonce = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            .to_string();
        self.header_with(method, url, params, &hex::encode(nonce), &timestamp)
    }

    fn header_with(
        &self,
        method: &str,
        url: &str,
        params: &[(&str, &str)],
        nonce: &str,
        timestamp: &str,
    ) -> String {
        let oauth = [
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", timestamp),
            ("oauth_token", self.token),
            ("oauth_version", "1.0"),
        ];
        // No token yet (the request-token step): the parameter is left out (RFC 5849 §3.1).
        let oauth: Vec<(&str, &str)> = oauth
            .into_iter()
            .filter(|(k, v)| *k != "oauth_token" || !v.is_empty())
            .collect();
        let signature = self.signature(method, url, params, &oauth);
        let mut parts: Vec<String> = oauth
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", encode(v)))
            .collect();
        parts.push(format!("oauth_signature=\"{}\"", encode(&signature)));
        parts.sort();
        format!("OAuth {}", parts.join(", "))
    }

    fn signature(
        &self,
        method: &str,
        url: &str,
        params: &[(&str, &str)],
        oauth: &[(&str, &str)],
    ) -> String {
        let (base_url, query) = url.split_once('?').unwrap_or((url, ""));
        let mut all: Vec<(String, String)> = params
            .iter()
            .chain(oauth)
            .map(|(k, v)| (encode(k), encode(v)))
            .collect();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            all.push((encode(&decode(k)), encode(&decode(v))));
        }
        all.sort();
        let param_string = all
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let base = format!(
            "{}&{}&{}",
            method.to_ascii_uppercase(),
            encode(base_url),
            encode(&param_string)
        );
        let key = format!(
            "{}&{}",
            encode(self.consumer_secret),
            encode(self.token_secret)
        );
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("any key length");
        mac.update(base.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }
}

/// The X Activity API events SocialConnect subscribes each linked account to.
pub const EVENT_TYPES: [&str; 6] = [
    "post.mention.create",
    "post.reply.create",
    "post.create",
    "dm.received",
    "dm.sent",
    "oauth.revoke",
];

pub struct XApi<'a> {
    pub http: &'a reqwest::Client,
    /// e.g. `https://api.x.com`.
    pub base: &'a str,
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
}

impl XApi<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }

    /// An app-only Bearer token (`POST /oauth2/token`, client credentials).
    pub async fn bearer_token(&self) -> Result<String, NetworkError> {
        let basic = B64.encode(format!(
            "{}:{}",
            encode(self.consumer_key),
            encode(self.consumer_secret)
        ));
        let res = self
            .http
            .post(self.url("/oauth2/token"))
            .header("authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(transport)?;
        let body = answer(res).await?;
        body.get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| x_error(200, &body))
    }

    /// The id of a valid webhook registered for `url`: an existing one (re-validated when X
    /// marked it invalid) or a new registration. X runs its CRC against `url` either way,
    /// so the server must be reachable there.
    pub async fn ensure_webhook(&self, bearer: &str, url: &str) -> Result<String, NetworkError> {
        let list = answer(
            self.http
                .get(self.url("/2/webhooks"))
                .bearer_auth(bearer)
                .send()
                .await
                .map_err(transport)?,
        )
        .await?;
        let existing = list
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|w| w.get("url").and_then(Value::as_str) == Some(url));
        if let Some(w) = existing {
            let id = w
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if w.get("valid").and_then(Value::as_bool) == Some(false) {
                let recheck = answer(
                    self.http
                        .put(self.url(&format!("/2/webhooks/{id}")))
                        .bearer_auth(bearer)
                        .send()
                        .await
                        .map_err(transport)?,
                )
                .await?;
                if recheck.pointer("/data/valid").and_then(Value::as_bool) != Some(true) {
                    return Err(NetworkError {
                        network: "X",
                        status: 200,
                        code: None,
                        message: format!("the webhook at {url} failed X's CRC check"),
                    });
                }
            }
            return Ok(id);
        }
        let created = answer(
            self.http
                .post(self.url("/2/webhooks"))
                .bearer_auth(bearer)
                .json(&json!({ "url": url }))
                .send()
                .await
                .map_err(transport)?,
        )
        .await?;
        created
            .pointer("/data/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| x_error(200, &created))
    }

    /// Subscribes the account to every event in [`EVENT_TYPES`] on `webhook_id`, in the
    /// account's user context (private events need the account to have authorised the
    /// app); subscriptions that already exist are kept.
    pub async fn subscribe_account(
        &self,
        user: &OAuth1<'_>,
        user_id: &str,
        webhook_id: &str,
    ) -> Result<(), NetworkError> {
        let list_url = self.url("/2/activity/subscriptions");
        let existing = answer(
            self.http
                .get(&list_url)
                .header("authorization", user.header("GET", &list_url, &[]))
                .send()
                .await
                .map_err(transport)?,
        )
        .await?;
        let have: Vec<&str> = existing
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|s| s.pointer("/filter/user_id").and_then(Value::as_str) == Some(user_id))
            .filter_map(|s| s.get("event_type").and_then(Value::as_str))
            .collect();
        for event_type in EVENT_TYPES.iter().filter(|e| !have.contains(e)) {
            answer(
                self.http
                    .post(&list_url)
                    .header("authorization", user.header("POST", &list_url, &[]))
                    .json(&json!({
                        "event_type": event_type,
                        "filter": { "user_id": user_id },
                        "webhook_id": webhook_id,
                        "tag": "socialconnect",
                    }))
                    .send()
                    .await
                    .map_err(transport)?,
            )
            .await?;
        }
        Ok(())
    }
}

async fn answer(res: reqwest::Response) -> Result<Value, NetworkError> {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(x_error(status, &body))
    }
}

fn transport(e: reqwest::Error) -> NetworkError {
    NetworkError {
        network: "X",
        status: 0,
        code: None,
        message: format!("could not reach the X API: {}", e.without_url()),
    }
}

/// v2 problems `{title, detail, type}`, or `{errors: [{code, message}]}` (v1.1 and v2).
pub fn x_error(status: u16, body: &Value) -> NetworkError {
    let first = body.pointer("/errors/0");
    NetworkError {
        network: "X",
        status,
        code: first.and_then(|e| e.get("code")).and_then(Value::as_i64),
        message: body
            .get("detail")
            .or_else(|| first.and_then(|e| e.get("message")))
            .or_else(|| body.get("title"))
            .and_then(Value::as_str)
            .unwrap_or("unexpected answer")
            .to_owned(),
    }
}

pub fn classify(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
) -> super::SendFailure {
    let e = x_error(status, body);
    crate::metrics::send_error("twitter", &e);
    let message = format!("X: {}", e.message);
    match status {
        429 => {
            // x-rate-limit-reset: epoch seconds when the window resets.
            let retry_after = headers
                .get("x-rate-limit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(|reset| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or_default();
                    std::time::Duration::from_secs(reset.saturating_sub(now))
                });
            super::SendFailure::Transient {
                message,
                retry_after,
            }
        }
        s if s >= 500 => super::SendFailure::Transient {
            message,
            retry_after: None,
        },
        s => super::SendFailure::Permanent {
            message,
            token_invalid: s == 401 || e.code == Some(89),
            sending_restricted: false,
        },
    }
}

impl XApi<'_> {
    async fn post_user(
        &self,
        user: &OAuth1<'_>,
        path: &str,
        body: &Value,
    ) -> Result<Value, super::SendFailure> {
        let url = self.url(path);
        let res = self
            .http
            .post(&url)
            .header("authorization", user.header("POST", &url, &[]))
            .json(body)
            .send()
            .await
            .map_err(|e| super::transport_failure("X", e))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(classify(status, &headers, &body))
        }
    }

    /// `POST /2/tweets` as a reply to `in_reply_to`, with `media.media_ids` when given
    /// (text may then be empty). Returns the post id.
    pub async fn reply(
        &self,
        user: &OAuth1<'_>,
        text: &str,
        in_reply_to: &str,
        media_ids: &[String],
    ) -> Result<String, super::SendFailure> {
        let mut body = json!({ "reply": { "in_reply_to_tweet_id": in_reply_to } });
        if !text.is_empty() || media_ids.is_empty() {
            body["text"] = text.into();
        }
        if !media_ids.is_empty() {
            body["media"] = json!({ "media_ids": media_ids });
        }
        let answer = self.post_user(user, "/2/tweets", &body).await?;
        super::id_from(&answer, "/data/id", "X", "request")
    }

    /// `POST /2/dm_conversations/with/:participant_id/messages`, with one attachment
    /// (`attachments: [{media_id}]`) when given. Returns the DM event id.
    pub async fn direct_message(
        &self,
        user: &OAuth1<'_>,
        participant_id: &str,
        text: &str,
        media_id: Option<&str>,
    ) -> Result<String, super::SendFailure> {
        let participant_id = IdKind::XId
            .check(participant_id)
            .map_err(|e| super::SendFailure::permanent(format!("not sent: {e}")))?;
        let path = format!("/2/dm_conversations/with/{participant_id}/messages");
        let mut body = json!({});
        if !text.is_empty() || media_id.is_none() {
            body["text"] = text.into();
        }
        if let Some(id) = media_id {
            body["attachments"] = json!([{ "media_id": id }]);
        }
        let answer = self.post_user(user, &path, &body).await?;
        super::id_from(&answer, "/data/dm_event_id", "X", "request")
    }
}

/// APPEND chunks: X accepts up to 5 MB per APPEND; 1 MB keeps each request short and a
/// retry cheap on a slow link.
pub const CHUNK: usize = 1024 * 1024;
/// How long STATUS is polled at most before the upload counts as a transient failure.
const PROCESSING_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// X's chunked media upload at `{upload base}/2/media/upload` (X docs `x-api/media/
/// quickstart/media-upload-chunked`): `command=INIT` (total_bytes, media_type,
/// media_category) → `APPEND` (media_id, segment_index, `media` ≤ [`CHUNK`]) →
/// `FINALIZE` → `GET ...?command=STATUS&media_id=` while `processing_info.state` is
/// `pending` or `in_progress`, waiting `check_after_secs`. All multipart (not signed,
/// as OAuth 1.0a signs only form and query parameters); STATUS's query is signed.
pub struct MediaUpload<'a> {
    pub http: &'a reqwest::Client,
    /// e.g. `https://api.x.com`.
    pub base: &'a str,
}

impl MediaUpload<'_> {
    /// Uploads `bytes` and waits until X has processed them. Returns the media id.
    pub async fn upload(
        &self,
        user: &OAuth1<'_>,
        bytes: &[u8],
        media_type: &str,
        category: &str,
    ) -> Result<String, super::SendFailure> {
        let url = format!("{}/2/media/upload", self.base.trim_end_matches('/'));
        let init = reqwest::multipart::Form::new()
            .text("command", "INIT")
            .text("total_bytes", bytes.len().to_string())
            .text("media_type", media_type.to_owned())
            .text("media_category", category.to_owned());
        let answer = self.post(user, &url, init).await?;
        let id = media_id(&answer)?;
        for (index, chunk) in bytes.chunks(CHUNK).enumerate() {
            let part = reqwest::multipart::Part::bytes(chunk.to_vec())
                .file_name("media")
                .mime_str("application/octet-stream")
                .expect("a valid mime type");
            let append = reqwest::multipart::Form::new()
                .text("command", "APPEND")
                .text("media_id", id.clone())
                .text("segment_index", index.to_string())
                .part("media", part);
            self.post(user, &url, append).await?;
        }
        let finalize = reqwest::multipart::Form::new()
            .text("command", "FINALIZE")
            .text("media_id", id.clone());
        let mut answer = self.post(user, &url, finalize).await?;
        let started = std::time::Instant::now();
        loop {
            let info = answer
                .pointer("/data/processing_info")
                .or_else(|| answer.get("processing_info"));
            let Some(info) = info else { return Ok(id) };
            match info.get("state").and_then(Value::as_str).unwrap_or("") {
                "succeeded" => return Ok(id),
                "pending" | "in_progress" => {}
                _ => {
                    let why = info
                        .pointer("/error/message")
                        .or_else(|| info.pointer("/error/name"))
                        .and_then(Value::as_str)
                        .unwrap_or("processing failed");
                    return Err(super::SendFailure::Permanent {
                        message: format!("X could not process the image: {why}"),
                        token_invalid: false,
                        sending_restricted: false,
                    });
                }
            }
            if started.elapsed() > PROCESSING_PATIENCE {
                return Err(super::SendFailure::Transient {
                    message: "X is still processing the image".into(),
                    retry_after: None,
                });
            }
            let wait = info
                .get("check_after_secs")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 30);
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            let status_url = format!("{url}?command=STATUS&media_id={}", encode(&id));
            let res = self
                .http
                .get(&status_url)
                .header("authorization", user.header("GET", &status_url, &[]))
                .send()
                .await
                .map_err(|e| super::transport_failure("X", e))?;
            answer = checked(res).await?;
        }
    }

    async fn post(
        &self,
        user: &OAuth1<'_>,
        url: &str,
        form: reqwest::multipart::Form,
    ) -> Result<Value, super::SendFailure> {
        let res = self
            .http
            .post(url)
            .header("authorization", user.header("POST", url, &[]))
            .multipart(form)
            .send()
            .await
            .map_err(|e| super::transport_failure("X", e))?;
        checked(res).await
    }
}

async fn checked(res: reqwest::Response) -> Result<Value, super::SendFailure> {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    // APPEND answers 2xx with an empty body in v1.1.
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(classify(status, &headers, &body))
    }
}

/// v2 `{"data": {"id"}}`, v1.1 `{"media_id_string"}`.
fn media_id(answer: &Value) -> Result<String, super::SendFailure> {
    answer
        .pointer("/data/id")
        .or_else(|| answer.get("media_id_string"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| super::SendFailure::Permanent {
            message: "X accepted the upload but returned no media id".into(),
            token_invalid: false,
            sending_restricted: false,
        })
}

/// The user fields PRODUCT.md's consumer profile shows.
pub const USER_FIELDS: &str =
    "created_at,description,location,url,public_metrics,profile_image_url";

impl XApi<'_> {
    /// `GET /2/users/:id` with the profile fields, in the brand's user context.
    pub async fn user(&self, user: &OAuth1<'_>, id: &str) -> Result<Value, NetworkError> {
        let id = IdKind::XId.check(id).map_err(|e| NetworkError {
            network: "X",
            status: 0,
            code: None,
            message: format!("not asked: {e}"),
        })?;
        let url = self.url(&format!(
            "/2/users/{id}?user.fields={}",
            encode(USER_FIELDS)
        ));
        let res = self
            .http
            .get(&url)
            .header("authorization", user.header("GET", &url, &[]))
            .send()
            .await
            .map_err(transport)?;
        let body = answer(res).await?;
        body.get("data").cloned().ok_or_else(|| x_error(200, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of X's "Creating a signature" page.
    #[test]
    fn signs_xs_documented_example() {
        let creds = OAuth1 {
            consumer_key: "xvz1evFS4wEEPTGEFPHBog",
            consumer_secret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            token: "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            token_secret: "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        };
        let header = creds.header_with(
            "POST",
            "https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
            &[(
                "status",
                "Hello Ladies + Gentlemen, a signed OAuth request!",
            )],
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
            "1318622958",
        );
        assert!(
            header.contains("oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\""),
            "{header}"
        );
        assert!(header.starts_with("OAuth "));
    }

    #[test]
    fn encodes_as_rfc_3986() {
        assert_eq!(encode("Ladies + Gentlemen"), "Ladies%20%2B%20Gentlemen");
        assert_eq!(encode("An encoded string!"), "An%20encoded%20string%21");
        assert_eq!(encode("Dogs, Cats & Mice"), "Dogs%2C%20Cats%20%26%20Mice");
        assert_eq!(encode("☃"), "%E2%98%83");
        assert_eq!(encode("a-b.c_d~e"), "a-b.c_d~e");
    }

    #[test]
    fn errors_keep_xs_words() {
        let v2 = json!({"title":"Forbidden","detail":"Reply to this conversation is not allowed","type":"about:blank"});
        assert_eq!(
            x_error(403, &v2).message,
            "Reply to this conversation is not allowed"
        );
        let v1 = json!({"errors":[{"code":89,"message":"Invalid or expired token."}]});
        let e = x_error(401, &v1);
        assert_eq!(
            (e.code, e.message.as_str()),
            (Some(89), "Invalid or expired token.")
        );
    }
}
