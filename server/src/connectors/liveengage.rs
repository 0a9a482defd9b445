//! LivePerson's Connector API (PLATFORMS.md, "LiveEngage"): the domain look-up, Sentinel's
//! app token (client credentials), the IdP's consumer token, and the messaging
//! CONVERSATION and SEND endpoints (create, publish text or a hosted file, close), with
//! Swift for files. Every conversation call carries `Authorization: <app token>` and
//! `X-LP-ON-BEHALF: <consumer token>`; their refusals (40102–40105) say which token to get
//! again.
//!
//! The hosts the look-up returns are bare (`va.idp.liveperson.net`): they are called with
//! the look-up base's scheme, so a base on `http://` (the sandbox) is called over http.

use serde_json::{Value, json};
use std::time::Duration;

/// Why a call did not go through, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeFailure {
    /// Try again later: timeouts, 5xx, rate limits (with when, if LivePerson said).
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The app token is missing, invalid or expired (40102, 40105): get another.
    AppToken,
    /// The consumer token is missing or invalid (40103, 40104): get another.
    ConsumerToken,
    /// Refused as asked (a 4xx), in LivePerson's words.
    Refused { status: u16, message: String },
}

impl std::fmt::Display for LeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeFailure::Transient { message, .. } => write!(f, "{message}"),
            LeFailure::AppToken => write!(f, "LiveEngage refused the app token"),
            LeFailure::ConsumerToken => write!(f, "LiveEngage refused the consumer token"),
            LeFailure::Refused { status, message } => {
                write!(f, "LiveEngage answered {status}: {message}")
            }
        }
    }
}

/// The consumer's profile, as engagement attributes (SDEs) the agent sees.
#[derive(Debug, Clone, Default)]
pub struct Profile<'a> {
    /// `ctmrinfo.socialId`: the person's id on the network.
    pub social_id: &'a str,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
}

/// A file put in Swift, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub relative_path: String,
}

/// The Connector API of one LiveEngage account.
pub struct Api<'a> {
    pub http: &'a reqwest::Client,
    /// The domain look-up's base, e.g. `https://api.liveperson.net`.
    pub domain: &'a str,
    /// The LiveEngage account (site) id.
    pub account: &'a str,
}

/// A LiveEngage account id: letters and digits only, as it goes into URLs.
pub fn account_id_ok(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A host the look-up returned, before it goes into a URL: a host name with an optional
/// port (and, for the sandbox, a path), nothing that would change what is called.
fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && !host.starts_with('/')
        && !host.contains("..")
        && !host.contains("//")
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:/_".contains(&b))
}

/// A path Swift handed out for an upload, before it goes into a URL.
fn relative_path_ok(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 512
        && !path.contains("..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b))
}

fn transport(e: reqwest::Error) -> LeFailure {
    LeFailure::Transient {
        message: format!("LiveEngage could not be reached: {}", e.without_url()),
        retry_after: None,
    }
}

/// Reads an answer: 2xx gives the body; a refusal is classified.
async fn answer(res: reqwest::Response) -> Result<Value, LeFailure> {
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(body);
    }
    Err(refusal(status, &body, retry_after))
}

/// What a refusal means: `{"kind":"resp","code","body":{"title","details","errorCode"}}`
/// for the Send API's own, OAuth's `{"error"}` for Sentinel's.
pub fn refusal(status: u16, body: &Value, retry_after: Option<Duration>) -> LeFailure {
    let code = body.pointer("/body/errorCode").and_then(Value::as_u64);
    let message = body
        .pointer("/body/details")
        .or_else(|| body.pointer("/body/title"))
        .or_else(|| body.get("error_description"))
        .or_else(|| body.get("error"))
        .and_then(Value::as_str)
        .unwrap_or("unexpected answer")
        .to_owned();
    match (status, code) {
        (_, Some(40102 | 40105)) => LeFailure::AppToken,
        (_, Some(40103 | 40104)) => LeFailure::ConsumerToken,
        (429, _) => LeFailure::Transient {
            message: format!("LiveEngage asked to slow down: {message}"),
            // LivePerson publishes no rate limits: at least a second.
            retry_after: Some(retry_after.unwrap_or_default().max(Duration::from_secs(1))),
        },
        (500.., _) | (408, _) => LeFailure::Transient {
            message: format!("LiveEngage answered {status}: {message}"),
            retry_after: None,
        },
        _ => LeFailure::Refused { status, message },
    }
}

impl Api<'_> {
    fn scheme(&self) -> &'static str {
        if self.domain.starts_with("http://") {
            "http"
        } else {
            "https"
        }
    }

    fn account(&self) -> Result<&str, LeFailure> {
        if account_id_ok(self.account) {
            Ok(self.account)
        } else {
            Err(LeFailure::Refused {
                status: 0,
                message: "not asked: the LiveEngage account id is not letters and digits".into(),
            })
        }
    }

    /// `https://{host}`, refusing a host of another shape.
    fn base(&self, host: &str) -> Result<String, LeFailure> {
        if host_ok(host) {
            Ok(format!(
                "{}://{}",
                self.scheme(),
                host.trim_end_matches('/')
            ))
        } else {
            Err(LeFailure::Refused {
                status: 0,
                message: format!("not asked: {host:?} is not a host"),
            })
        }
    }

    /// The host of `service` for this account (the Domain API's `baseURI`).
    pub async fn base_uri(&self, service: &str) -> Result<String, LeFailure> {
        let url = format!(
            "{}/api/account/{}/service/{service}/baseURI.json?version=1.0",
            self.domain.trim_end_matches('/'),
            self.account()?
        );
        let body = answer(self.http.get(url).send().await.map_err(transport)?).await?;
        let host =
            body.get("baseURI")
                .and_then(Value::as_str)
                .ok_or_else(|| LeFailure::Refused {
                    status: 200,
                    message: format!("the domain look-up named no host for {service}"),
                })?;
        self.base(host)?;
        Ok(host.to_owned())
    }

    /// An app token (valid one hour) for the connector app's client credentials.
    pub async fn app_token(
        &self,
        sentinel: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<String, LeFailure> {
        let url = format!(
            "{}/sentinel/api/account/{}/app/token?v=1.0&grant_type=client_credentials",
            self.base(sentinel)?,
            self.account()?
        );
        let res = self
            .http
            .post(url)
            .form(&[("client_id", client_id), ("client_secret", client_secret)])
            .send()
            .await
            .map_err(transport)?;
        let body = match answer(res).await {
            // Sentinel's 401 is about the client credentials, not a token.
            Err(LeFailure::AppToken) => {
                return Err(LeFailure::Refused {
                    status: 401,
                    message: "the client id or secret was refused".into(),
                });
            }
            other => other?,
        };
        body.get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| LeFailure::Refused {
                status: 200,
                message: "Sentinel answered without an access token".into(),
            })
    }

    /// A consumer token for our id of the consumer (it does not expire).
    pub async fn consumer_token(
        &self,
        idp: &str,
        app_token: &str,
        ext_consumer_id: &str,
    ) -> Result<String, LeFailure> {
        let url = format!(
            "{}/api/account/{}/consumer?v=1.0",
            self.base(idp)?,
            self.account()?
        );
        let res = self
            .http
            .post(url)
            .header("authorization", app_token)
            .json(&json!({"ext_consumer_id": ext_consumer_id}))
            .send()
            .await
            .map_err(transport)?;
        let body = answer(res).await?;
        body.get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| LeFailure::Refused {
                status: 201,
                message: "the IdP answered without a consumer token".into(),
            })
    }

    fn messaging_url(&self, host: &str, send: bool) -> Result<String, LeFailure> {
        Ok(format!(
            "{}/api/account/{}/messaging/consumer/conversation{}?v=3",
            self.base(host)?,
            self.account()?,
            if send { "/send" } else { "" }
        ))
    }

    async fn messaging(
        &self,
        host: &str,
        send: bool,
        tokens: (&str, &str),
        body: &Value,
    ) -> Result<Value, LeFailure> {
        let res = self
            .http
            .post(self.messaging_url(host, send)?)
            .header("authorization", tokens.0)
            .header("x-lp-on-behalf", tokens.1)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        answer(res).await
    }

    /// Opens a messaging conversation for the consumer (the ordered batch: their profile,
    /// then the request), on `skill_id` when given; returns its id.
    pub async fn create_conversation(
        &self,
        host: &str,
        tokens: (&str, &str),
        profile: &Profile<'_>,
        skill_id: Option<&str>,
    ) -> Result<String, LeFailure> {
        let mut personal = serde_json::Map::new();
        if let Some(f) = profile.first_name {
            personal.insert("firstname".into(), json!(f));
        }
        if let Some(l) = profile.last_name {
            personal.insert("lastname".into(), json!(l));
        }
        let mut request = json!({
            "brandId": self.account()?,
            "channelType": "MESSAGING",
            "ttrDefName": "NORMAL",
        });
        if let Some(skill) = skill_id {
            request["skillId"] = json!(skill);
        }
        let batch = json!([
            {"kind": "req", "id": "1,", "type": "userprofile.SetUserProfile",
             "body": {"authenticatedData": {"lp_sdes": [
                {"type": "ctmrinfo", "info": {"socialId": profile.social_id}},
                {"type": "personal", "personal": personal},
             ]}}},
            {"kind": "req", "id": "2,", "type": "cm.ConsumerRequestConversation",
             "body": request},
        ]);
        let body = self.messaging(host, false, tokens, &batch).await?;
        body.as_array()
            .into_iter()
            .flatten()
            .find_map(|r| r.pointer("/body/conversationId").and_then(Value::as_str))
            .map(str::to_owned)
            .ok_or_else(|| LeFailure::Refused {
                status: 200,
                message: "LiveEngage opened no conversation".into(),
            })
    }

    /// Publishes a `text/plain` line as the consumer.
    pub async fn publish_text(
        &self,
        host: &str,
        tokens: (&str, &str),
        conversation_id: &str,
        text: &str,
    ) -> Result<(), LeFailure> {
        let req = json!({"kind": "req", "id": "1", "type": "ms.PublishEvent", "body": {
            "dialogId": conversation_id,
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text},
        }});
        self.messaging(host, true, tokens, &req).await.map(drop)
    }

    /// Puts an image in Swift (`ms.GenerateURLForUploadFile`, then the signed `PUT`).
    /// `file_type` is `JPG`, `PNG` or `GIF`.
    pub async fn upload(
        &self,
        host: &str,
        swift: &str,
        tokens: (&str, &str),
        bytes: Vec<u8>,
        file_type: &str,
    ) -> Result<Uploaded, LeFailure> {
        let req = json!({"kind": "req", "id": "1", "type": "ms.GenerateURLForUploadFile",
            "body": {"fileSize": bytes.len().to_string(), "fileType": file_type}});
        let body = self.messaging(host, true, tokens, &req).await?;
        let field = |p: &str| body.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let (Some(path), Some(sig), Some(expires)) = (
            field("/body/relativePath"),
            field("/body/queryParams/temp_url_sig"),
            field("/body/queryParams/temp_url_expires"),
        ) else {
            return Err(LeFailure::Refused {
                status: 200,
                message: "LiveEngage gave no upload URL".into(),
            });
        };
        if !relative_path_ok(&path) {
            return Err(LeFailure::Refused {
                status: 200,
                message: "LiveEngage gave an upload path of another shape".into(),
            });
        }
        let res = self
            .http
            .put(format!("{}{path}", self.base(swift)?))
            .query(&[("temp_url_sig", sig), ("temp_url_expires", expires)])
            .body(bytes)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(Uploaded {
                relative_path: path,
            });
        }
        let body: Value = res.json().await.unwrap_or(Value::Null);
        // A refused upload URL is no token matter: it is asked for again with the line.
        match refusal(status, &body, None) {
            LeFailure::AppToken | LeFailure::ConsumerToken => Err(LeFailure::Transient {
                message: "Swift refused the upload URL".into(),
                retry_after: None,
            }),
            other => Err(other),
        }
    }

    /// Publishes an uploaded file (`hosted/file`) with a caption.
    pub async fn publish_file(
        &self,
        host: &str,
        tokens: (&str, &str),
        conversation_id: &str,
        file: &Uploaded,
        file_type: &str,
        caption: &str,
    ) -> Result<(), LeFailure> {
        let req = json!({"kind": "req", "id": "1", "type": "ms.PublishEvent", "body": {
            "dialogId": conversation_id,
            "event": {"type": "ContentEvent", "contentType": "hosted/file", "message": {
                "caption": caption, "relativePath": file.relative_path, "fileType": file_type}},
        }});
        self.messaging(host, true, tokens, &req).await.map(drop)
    }

    /// Closes the conversation (`cm.UpdateConversationField`, state `CLOSE`).
    pub async fn close(
        &self,
        host: &str,
        tokens: (&str, &str),
        conversation_id: &str,
    ) -> Result<(), LeFailure> {
        let req = json!({"kind": "req", "id": "1", "type": "cm.UpdateConversationField",
            "body": {"conversationId": conversation_id, "conversationField": {
                "field": "ConversationStateField", "conversationState": "CLOSE"}}});
        self.messaging(host, true, tokens, &req).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_which_token_to_renew() {
        let err = |code: u64| json!({"kind":"resp","code":401,"body":{"title":"t","details":"d","errorCode":code}});
        assert_eq!(refusal(401, &err(40102), None), LeFailure::AppToken);
        assert_eq!(refusal(401, &err(40105), None), LeFailure::AppToken);
        assert_eq!(refusal(401, &err(40103), None), LeFailure::ConsumerToken);
        assert_eq!(refusal(401, &err(40104), None), LeFailure::ConsumerToken);
        assert!(matches!(
            refusal(503, &Value::Null, None),
            LeFailure::Transient {
                retry_after: None,
                ..
            }
        ));
        assert_eq!(
            refusal(429, &Value::Null, None),
            LeFailure::Transient {
                message: "LiveEngage asked to slow down: unexpected answer".into(),
                retry_after: Some(Duration::from_secs(1)),
            }
        );
        assert!(matches!(
            refusal(429, &Value::Null, Some(Duration::from_secs(7))),
            LeFailure::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert_eq!(
            refusal(400, &err(40011), None),
            LeFailure::Refused {
                status: 400,
                message: "d".into()
            }
        );
    }

    #[test]
    fn only_ids_and_hosts_of_their_shape_go_into_urls() {
        assert!(account_id_ok("12345678") && account_id_ok("le81823118"));
        for bad in ["", "1/2", "1?x", "1#", "1 2", "../x"] {
            assert!(!account_id_ok(bad), "{bad}");
        }
        assert!(host_ok("va.idp.liveperson.net") && host_ok("127.0.0.1:9/liveengage/idp"));
        for bad in ["", "/x", "a..b", "a//b", "a?b", "a#b", "a@b", "a b"] {
            assert!(!host_ok(bad), "{bad}");
        }
        assert!(relative_path_ok("/v1/AUTH_async-images/1/a_uuid_b.PNG"));
        assert!(!relative_path_ok("v1/x") && !relative_path_ok("/v1/../x"));
        assert!(!relative_path_ok("/v1/x?y=1"));
    }

    /// A call with an id of another shape is never made.
    #[tokio::test]
    async fn nothing_is_asked_with_an_account_id_of_another_shape() {
        let http = reqwest::Client::new();
        let api = Api {
            http: &http,
            domain: "http://127.0.0.1:9",
            account: "1/../2",
        };
        let e = api.base_uri("idp").await.unwrap_err();
        assert!(matches!(e, LeFailure::Refused { status: 0, .. }), "{e:?}");
    }
}
