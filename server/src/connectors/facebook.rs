//! The Graph API: `appsecret_proof` on every token call, page webhook subscriptions.

use super::NetworkError;
use serde_json::Value;

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
