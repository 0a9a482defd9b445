//! The Connector API as LivePerson documents it (developer-center, "Connector API", "Send
//! API", "Authorization and Authentication", "Domain API"):
//!
//! - `GET /api/account/{accountId}/service/{service}/baseURI.json?version=1.0` →
//!   `{"service","account","baseURI"}`;
//! - Sentinel: `POST /sentinel/api/account/{accountId}/app/token?v=1.0&grant_type=
//!   client_credentials`, form `client_id`, `client_secret` → `{"access_token",
//!   "token_type":"Bearer"}`, valid one hour;
//! - IdP: `POST /api/account/{accountId}/consumer?v=1.0` with the app token, JSON
//!   `{"ext_consumer_id"}` → 201 `{"token"}` (never expires);
//! - messaging: `POST …/messaging/consumer/conversation?v=3` (the ordered batch
//!   `userprofile.SetUserProfile`, `cm.ConsumerRequestConversation`) and
//!   `…/conversation/send?v=3` (`ms.PublishEvent` with a `ContentEvent` of `text/plain` or
//!   `hosted/file`, `cm.UpdateConversationField` to close, `ms.GenerateURLForUploadFile`),
//!   both with `Authorization: <app token>` and `X-LP-ON-BEHALF: <consumer token>`;
//!   refused with 401 and error codes 40102 (app token invalid or expired), 40103
//!   (consumer token invalid), 40104 (consumer token missing), 40105 (app token missing);
//! - Swift: `PUT /{relativePath}?temp_url_sig=..&temp_url_expires=..` → 201.
//!
//! Errors take the documented shape `{"kind":"resp","code","body":{"title","details",
//! "errorCode"},"type":".ReqBody$ErrorResp"}`. Every call is recorded (network
//! `"liveengage"`, path below the service's host) and consults the fault table under
//! [`super::endpoints`]. Also here: the agent's JSON actions (`/agent/api/…`), for the
//! sandbox's agent page.

use super::{
    AppToken, ConsumerRec, Conversation, HostedFile, LiveEngage, Role, SERVICES, UploadSlot,
    change_notification, endpoints, messaging_notification, new_conversation_id, push_line,
};
use crate::common::{Call, Fault, now_millis, random_alnum, random_hex, same};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Files shared in conversations: JPG, PNG or GIF, up to 3 MB.
const MAX_FILE: usize = 3 * 1024 * 1024;
/// How long an upload URL is good for ("File expiration is set to 1 minute by default").
const UPLOAD_URL_SECS: u64 = 60;

/// An error in the Send API's documented shape.
#[derive(Debug, Clone)]
pub struct LeError {
    pub status: u16,
    pub code: u32,
    pub title: String,
    pub details: String,
    pub headers: Vec<(&'static str, String)>,
}

impl LeError {
    fn new(status: u16, code: u32, title: &str, details: impl Into<String>) -> Self {
        LeError {
            status,
            code,
            title: title.to_owned(),
            details: details.into(),
            headers: Vec::new(),
        }
    }
    fn bad(details: impl Into<String>) -> Self {
        LeError::new(400, 40000, "Bad request", details)
    }
    fn body(&self) -> Value {
        json!({
            "kind": "resp",
            "code": self.status,
            "body": {"title": self.title, "details": self.details, "errorCode": self.code},
            "type": ".ReqBody$ErrorResp",
        })
    }
}

/// What a handler answers: status, body and extra headers.
type Answer = Result<(u16, Value), LeError>;

impl LiveEngage {
    /// Records the call and turns the answer into a response.
    fn finish(
        &self,
        method: &str,
        path: String,
        query: &str,
        body: Value,
        answer: Answer,
    ) -> Response {
        let (status, json, headers) = match answer {
            Ok((s, v)) => (s, v, Vec::new()),
            Err(e) => (e.status, e.body(), e.headers.clone()),
        };
        self.shared().calls.record(Call {
            network: "liveengage",
            method: method.to_owned(),
            path,
            query: query.to_owned(),
            body,
            status,
        });
        let mut resp = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(json),
        )
            .into_response();
        for (k, v) in headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }

    /// The injected faults of `endpoint`: latency first, then the first refusal.
    async fn apply_faults(&self, endpoint: &str) -> Result<(), LeError> {
        let faults = self.shared().faults.take("liveengage", endpoint);
        for f in &faults {
            if let Fault::Latency(d) = f {
                tokio::time::sleep(*d).await;
            }
        }
        for f in faults {
            match f {
                Fault::ServerError(status) => {
                    return Err(LeError::new(
                        status,
                        u32::from(status) * 100,
                        "Service Unavailable",
                        "the service is temporarily unavailable",
                    ));
                }
                Fault::RateLimited { retry_after } => {
                    let mut e =
                        LeError::new(429, 42900, "Too Many Requests", "rate limit exceeded");
                    e.headers
                        .push(("retry-after", retry_after.as_secs().max(1).to_string()));
                    return Err(e);
                }
                Fault::ExpiredToken => return Err(invalid_app_token()),
                Fault::Refuse {
                    status,
                    code,
                    message,
                    ..
                } => return Err(LeError::new(status, code, "Refused", message)),
                Fault::Latency(_) | Fault::DropWebhook => {}
            }
        }
        Ok(())
    }

    /// The app token in `Authorization` (bare, or after `Bearer `), valid for `account`.
    fn check_app_token(&self, account: &str, headers: &HeaderMap) -> Result<(), LeError> {
        let token = header_str(headers, header::AUTHORIZATION.as_str())
            .map(|t| t.strip_prefix("Bearer ").unwrap_or(t).trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                LeError::new(
                    401,
                    40105,
                    "AppJWT is missing",
                    "AUTHORIZATION header is not present",
                )
            })?;
        let st = self.lock();
        match st.app_tokens.get(&token) {
            Some(t) if t.account_id == account && t.expires > now_millis() => Ok(()),
            _ => Err(invalid_app_token()),
        }
    }

    /// The consumer that `X-LP-ON-BEHALF` names, of `account`.
    fn check_consumer(&self, account: &str, headers: &HeaderMap) -> Result<ConsumerRec, LeError> {
        let token = header_str(headers, "x-lp-on-behalf")
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                LeError::new(
                    401,
                    40104,
                    "ConsumerJWS is missing",
                    "X_ON_BEHALF_HEADER is not present",
                )
            })?;
        let st = self.lock();
        st.consumer_tokens
            .get(token.trim())
            .and_then(|id| st.consumers.iter().find(|c| &c.id == id))
            .filter(|c| c.account_id == account)
            .cloned()
            .ok_or_else(|| {
                LeError::new(401, 40103, "Invalid ConsumerJWS", "ConsumerJWS is invalid")
            })
    }
}

fn invalid_app_token() -> LeError {
    LeError::new(
        401,
        40102,
        "Invalid AppJWT",
        "AppJWT has expired or is invalid",
    )
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!(format!("<{} bytes>", bytes.len())))
}

/// Requires `key=want` in the query.
fn query_has(q: &HashMap<String, String>, key: &str, want: &str) -> Result<(), LeError> {
    match q.get(key) {
        Some(v) if v == want => Ok(()),
        _ => Err(LeError::bad(format!(
            "query parameter {key}={want} is required"
        ))),
    }
}

// ----- Domain API ------------------------------------------------------------------------

pub(crate) async fn domain(
    State(le): State<LiveEngage>,
    Path((account, service)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let path = format!("/api/account/{account}/service/{service}/baseURI.json");
    let query = uri.query().unwrap_or("").to_owned();
    let answer = async {
        le.apply_faults(endpoints::DOMAIN).await?;
        query_has(&q, "version", "1.0")?;
        if le.lock().account(&account).is_none() {
            return Err(LeError::new(404, 40400, "Not Found", "unknown account"));
        }
        if !SERVICES.contains(&service.as_str()) {
            return Err(LeError::new(404, 40400, "Not Found", "unknown service"));
        }
        Ok((
            200,
            json!({"service": service, "account": account, "baseURI": le.host(&service)}),
        ))
    }
    .await;
    le.finish("GET", path, &query, Value::Null, answer)
}

// ----- Sentinel: the app token -------------------------------------------------------------

pub(crate) async fn app_token(
    State(le): State<LiveEngage>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/sentinel/api/account/{account}/app/token");
    let query = uri.query().unwrap_or("").to_owned();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    // The secret is not recorded.
    let recorded = json!({"client_id": form.get("client_id")});
    let answer = async {
        le.apply_faults(endpoints::APP_TOKEN).await?;
        query_has(&q, "v", "1.0")?;
        if q.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Ok((400, json!({"error": "unsupported_grant_type"})));
        }
        let form_declared = header_str(&headers, header::CONTENT_TYPE.as_str())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if !form_declared {
            return Ok((
                400,
                json!({"error": "invalid_request",
                       "error_description": "the body must be application/x-www-form-urlencoded"}),
            ));
        }
        let mut st = le.lock();
        let app_ok = st.account(&account).is_some_and(|a| {
            form.get("client_id")
                .is_some_and(|c| same(c, &a.account.client_id))
                && form
                    .get("client_secret")
                    .is_some_and(|s| same(s, &a.account.client_secret))
        });
        if !app_ok {
            return Ok((401, json!({"error": "invalid_client"})));
        }
        let token = format!("eyJ{}", random_alnum(120));
        st.app_tokens.insert(
            token.clone(),
            AppToken {
                account_id: account.clone(),
                expires: now_millis() + super::APP_TOKEN_TTL_MS,
            },
        );
        Ok((200, json!({"access_token": token, "token_type": "Bearer"})))
    }
    .await;
    le.finish("POST", path, &query, recorded, answer)
}

// ----- IdP: the consumer token -------------------------------------------------------------

pub(crate) async fn consumer_token(
    State(le): State<LiveEngage>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/api/account/{account}/consumer");
    let query = uri.query().unwrap_or("").to_owned();
    let recorded = json_of(&body);
    let answer = async {
        le.apply_faults(endpoints::CONSUMER_TOKEN).await?;
        query_has(&q, "v", "1.0")?;
        le.check_app_token(&account, &headers)?;
        let ext = recorded
            .get("ext_consumer_id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| LeError::bad("ext_consumer_id is required"))?
            .to_owned();
        let mut st = le.lock();
        let id = match st
            .consumers
            .iter()
            .find(|c| c.account_id == account && c.ext_id == ext)
        {
            Some(c) => c.id.clone(),
            None => {
                let id = random_hex(32);
                st.consumers.push(ConsumerRec {
                    id: id.clone(),
                    account_id: account.clone(),
                    ext_id: ext,
                });
                id
            }
        };
        let token = format!("eyJ{}", random_alnum(140));
        st.consumer_tokens.insert(token.clone(), id);
        Ok((201, json!({"token": token})))
    }
    .await;
    le.finish("POST", path, &query, recorded, answer)
}

// ----- messaging: CONVERSATION -------------------------------------------------------------

/// A request of the batch: `{"kind":"req","id","type","body"}`.
fn request<'a>(v: &'a Value, want: &str) -> Result<(&'a Value, &'a Map<String, Value>), LeError> {
    let kind = v.get("kind").and_then(Value::as_str);
    let ty = v.get("type").and_then(Value::as_str);
    if kind != Some("req") || ty != Some(want) {
        return Err(LeError::bad(format!(
            "expected a request of type {want}, got {}",
            ty.unwrap_or("none")
        )));
    }
    let id = v
        .get("id")
        .ok_or_else(|| LeError::bad("every request needs an id"))?;
    let body = v
        .get("body")
        .and_then(Value::as_object)
        .ok_or_else(|| LeError::bad(format!("{want} needs a body")))?;
    Ok((id, body))
}

pub(crate) async fn create_conversation(
    State(le): State<LiveEngage>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/api/account/{account}/messaging/consumer/conversation");
    let query = uri.query().unwrap_or("").to_owned();
    let recorded = json_of(&body);
    let answer = async {
        le.apply_faults(endpoints::CONVERSATION).await?;
        query_has(&q, "v", "3")?;
        le.check_app_token(&account, &headers)?;
        let consumer = le.check_consumer(&account, &headers)?;
        let batch = recorded
            .as_array()
            .filter(|b| b.len() >= 2)
            .ok_or_else(|| LeError::bad("a batch of at least two requests is expected"))?;
        // The order matters: the profile first, then the request for a conversation.
        let (profile_id, profile) = request(&batch[0], "userprofile.SetUserProfile")?;
        let (request_id, req) = request(&batch[1], "cm.ConsumerRequestConversation")?;
        if req.get("brandId").and_then(Value::as_str) != Some(account.as_str()) {
            return Err(LeError::new(
                400,
                40001,
                "Missing parameter",
                "Brand Id is missing",
            ));
        }
        if let Some(ch) = req.get("channelType")
            && ch.as_str() != Some("MESSAGING")
        {
            return Err(LeError::bad("channelType must be MESSAGING"));
        }
        let skill_id = match req.get("skillId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s))
                if s == "-1" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) =>
            {
                Some(s.clone())
            }
            Some(_) => return Err(LeError::bad("skillId must be a skill's id or \"-1\"")),
        };
        let sdes = profile
            .get("authenticatedData")
            .and_then(|d| d.get("lp_sdes"))
            .cloned()
            .unwrap_or(Value::Null);
        if !(sdes.is_null() || sdes.is_array()) {
            return Err(LeError::bad("authenticatedData.lp_sdes must be an array"));
        }
        let c = Conversation {
            id: new_conversation_id(),
            account_id: account.clone(),
            consumer_id: consumer.id.clone(),
            ext_consumer_id: consumer.ext_id.clone(),
            skill_id,
            open: true,
            sdes,
            lines: Vec::new(),
            agent_id: None,
            started: now_millis(),
        };
        let note = change_notification(&c);
        let id = c.id.clone();
        le.lock().conversations.push(c);
        le.notify(&account, &id, None, note);
        Ok((
            200,
            json!([
                {"code": "OK", "body": {"msg": "OK User Profile set successfully"},
                 "reqId": profile_id},
                {"code": "OK", "body": {"conversationId": id}, "reqId": request_id},
            ]),
        ))
    }
    .await;
    le.finish("POST", path, &query, recorded, answer)
}

// ----- messaging: SEND ---------------------------------------------------------------------

pub(crate) async fn send(
    State(le): State<LiveEngage>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/api/account/{account}/messaging/consumer/conversation/send");
    let query = uri.query().unwrap_or("").to_owned();
    let recorded = json_of(&body);
    let answer = async {
        le.apply_faults(endpoints::SEND).await?;
        query_has(&q, "v", "3")?;
        le.check_app_token(&account, &headers)?;
        let consumer = le.check_consumer(&account, &headers)?;
        let ty = recorded.get("type").and_then(Value::as_str).unwrap_or("");
        let (req_id, body) = request(&recorded, ty)?;
        match ty {
            "ms.PublishEvent" => publish(&le, &account, &consumer, req_id, body),
            "cm.UpdateConversationField" => update_field(&le, &account, &consumer, req_id, body),
            "ms.GenerateURLForUploadFile" => upload_url(&le, &account, req_id, body),
            other => Err(LeError::bad(format!("unsupported request type {other:?}"))),
        }
    }
    .await;
    le.finish("POST", path, &query, recorded, answer)
}

/// The open conversation `id` of this consumer.
fn own_conversation<'a>(
    st: &'a mut super::LeState,
    account: &str,
    consumer: &ConsumerRec,
    id: Option<&str>,
) -> Result<&'a mut Conversation, LeError> {
    let id = id.ok_or_else(|| LeError::bad("the conversation's id is required"))?;
    let c = st
        .conversation_mut(id)
        .filter(|c| c.account_id == account && c.consumer_id == consumer.id)
        .ok_or_else(|| LeError::new(400, 40010, "Bad request", "no such conversation"))?;
    if !c.open {
        return Err(LeError::new(
            400,
            40011,
            "Bad request",
            "the conversation is closed",
        ));
    }
    Ok(c)
}

fn publish(
    le: &LiveEngage,
    account: &str,
    consumer: &ConsumerRec,
    req_id: &Value,
    body: &Map<String, Value>,
) -> Answer {
    let event = body
        .get("event")
        .and_then(Value::as_object)
        .ok_or_else(|| LeError::bad("event is required"))?;
    let mut st = le.lock();
    let dialog = body.get("dialogId").and_then(Value::as_str);
    match event.get("type").and_then(Value::as_str) {
        Some("ContentEvent") => {}
        // Typing and read states change no transcript.
        Some("ChatStateEvent" | "AcceptStatusEvent") => {
            own_conversation(&mut st, account, consumer, dialog)?;
            return Ok((200, json!({"reqId": req_id, "code": "OK", "body": {}})));
        }
        other => {
            return Err(LeError::bad(format!(
                "unsupported event type {}",
                other.unwrap_or("none")
            )));
        }
    }
    let (text, file) = match event.get("contentType").and_then(Value::as_str) {
        Some("text/plain") => {
            let text = event
                .get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.trim().is_empty())
                .ok_or_else(|| LeError::bad("a text/plain message must be non-empty text"))?;
            (Some(text.to_owned()), None)
        }
        Some("hosted/file") => {
            let m = event
                .get("message")
                .and_then(Value::as_object)
                .ok_or_else(|| LeError::bad("a hosted/file message is an object"))?;
            let path = m
                .get("relativePath")
                .and_then(Value::as_str)
                .ok_or_else(|| LeError::bad("relativePath is required"))?;
            let file_type = m
                .get("fileType")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
                .filter(|t| file_type_ok(t))
                .ok_or_else(|| LeError::bad("fileType must be JPG, JPEG, PNG or GIF"))?;
            if !st.files.contains_key(path) || !path.contains(&format!("/{account}/")) {
                return Err(LeError::bad("no file was uploaded at relativePath"));
            }
            let caption = m.get("caption").and_then(Value::as_str).map(str::to_owned);
            (
                None,
                Some(HostedFile {
                    relative_path: path.to_owned(),
                    file_type,
                    caption,
                }),
            )
        }
        other => {
            return Err(LeError::bad(format!(
                "unsupported contentType {}",
                other.unwrap_or("none")
            )));
        }
    };
    let c = own_conversation(&mut st, account, consumer, dialog)?;
    let line = push_line(c, Role::Consumer, text.clone(), file.clone());
    let event = match (&text, &file) {
        (Some(t), _) => json!({"type": "ContentEvent", "contentType": "text/plain", "message": t}),
        (None, Some(f)) => json!({"type": "ContentEvent", "contentType": "hosted/file",
            "message": {"caption": f.caption, "relativePath": f.relative_path,
                        "fileType": f.file_type}}),
        (None, None) => Value::Null,
    };
    let (id, originator) = (c.id.clone(), c.consumer_id.clone());
    drop(st);
    le.notify(
        account,
        &id,
        Some(line.sequence),
        messaging_notification(&id, &line, &originator, event),
    );
    Ok((
        200,
        json!({"reqId": req_id, "code": "OK", "body": {"sequence": line.sequence}}),
    ))
}

fn update_field(
    le: &LiveEngage,
    account: &str,
    consumer: &ConsumerRec,
    req_id: &Value,
    body: &Map<String, Value>,
) -> Answer {
    let field = body
        .get("conversationField")
        .ok_or_else(|| LeError::bad("conversationField is required"))?;
    if field.get("field").and_then(Value::as_str) != Some("ConversationStateField")
        || field.get("conversationState").and_then(Value::as_str) != Some("CLOSE")
    {
        return Err(LeError::bad(
            "only ConversationStateField CLOSE is supported",
        ));
    }
    let mut st = le.lock();
    let id = body.get("conversationId").and_then(Value::as_str);
    let c = own_conversation(&mut st, account, consumer, id)?;
    c.open = false;
    let note = change_notification(c);
    let id = c.id.clone();
    drop(st);
    le.notify(account, &id, None, note);
    Ok((
        200,
        json!({"reqId": req_id, "code": "OK",
               "body": {"msg": "Conversation state updated successfully"}}),
    ))
}

fn file_type_ok(t: &str) -> bool {
    matches!(t, "JPG" | "JPEG" | "PNG" | "GIF")
}

fn upload_url(le: &LiveEngage, account: &str, req_id: &Value, body: &Map<String, Value>) -> Answer {
    let size = match body.get("fileSize") {
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .ok_or_else(|| LeError::bad("fileSize is required"))?;
    if size == 0 || size > MAX_FILE as u64 {
        return Err(LeError::bad("files are up to 3 MB"));
    }
    let file_type = body
        .get("fileType")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .filter(|t| file_type_ok(t))
        .ok_or_else(|| LeError::bad("fileType must be JPG, JPEG, PNG or GIF"))?;
    let relative = format!(
        "/v1/AUTH_async-images/{account}/{}_uuid_{}.{file_type}",
        random_hex(32),
        super::new_conversation_id()
    );
    let sig = random_hex(20);
    let expires = now_millis() / 1000 + UPLOAD_URL_SECS;
    le.lock().slots.insert(
        relative.clone(),
        UploadSlot {
            sig: sig.clone(),
            expires_secs: expires,
            file_type,
        },
    );
    Ok((
        200,
        json!({"reqId": req_id, "code": "OK", "body": {"relativePath": relative,
            "queryParams": {"temp_url_sig": sig, "temp_url_expires": expires.to_string()}}}),
    ))
}

// ----- Swift -----------------------------------------------------------------------------

/// Whether `bytes` are a file of `file_type`, by their magic bytes.
fn sniffed(file_type: &str, bytes: &[u8]) -> bool {
    match file_type {
        "JPG" | "JPEG" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "PNG" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "GIF" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        _ => false,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TempUrl {
    temp_url_sig: Option<String>,
    temp_url_expires: Option<String>,
}

pub(crate) async fn upload(
    State(le): State<LiveEngage>,
    Path(path): Path<String>,
    Query(q): Query<TempUrl>,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let relative = format!("/{path}");
    let query = uri.query().unwrap_or("").to_owned();
    let recorded = json!(format!("<{} bytes>", body.len()));
    let answer = async {
        le.apply_faults(endpoints::UPLOAD).await?;
        let mut st = le.lock();
        let slot = st
            .slots
            .get(&relative)
            .cloned()
            .ok_or_else(|| LeError::new(401, 40100, "Unauthorized", "Temp URL invalid"))?;
        let now = now_millis() / 1000;
        let sig_ok = q
            .temp_url_sig
            .as_deref()
            .is_some_and(|s| same(s, &slot.sig));
        let expires_ok =
            q.temp_url_expires.as_deref() == Some(slot.expires_secs.to_string().as_str());
        if !sig_ok || !expires_ok || slot.expires_secs < now {
            return Err(LeError::new(401, 40100, "Unauthorized", "Temp URL invalid"));
        }
        if body.is_empty() || body.len() > MAX_FILE || !sniffed(&slot.file_type, &body) {
            return Err(LeError::bad(format!(
                "the body is not a {} file of up to 3 MB",
                slot.file_type
            )));
        }
        st.slots.remove(&relative);
        st.files
            .insert(relative.clone(), (slot.file_type.clone(), body.to_vec()));
        Ok((201, Value::Null))
    }
    .await;
    le.finish("PUT", relative, &query, recorded, answer)
}

/// A stored file, for the agent page (LivePerson's own download URLs are signed; the
/// sandbox's agent page is on the sandbox's own origin).
pub(crate) async fn download(State(le): State<LiveEngage>, Path(path): Path<String>) -> Response {
    match le.file(&format!("/{path}")) {
        Some((file_type, bytes)) => {
            let mime = match file_type.as_str() {
                "PNG" => "image/png",
                "GIF" => "image/gif",
                _ => "image/jpeg",
            };
            ([(header::CONTENT_TYPE, mime)], bytes).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

// ----- the agent's JSON actions ------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub(crate) struct ListParams {
    /// Only this account's conversations.
    account: Option<String>,
}

/// Every conversation (of `?account=` when given), each with its `visitor_name`.
pub(crate) async fn agent_list(
    State(le): State<LiveEngage>,
    Query(q): Query<ListParams>,
) -> Json<Vec<Value>> {
    Json(
        le.conversations()
            .iter()
            .filter(|c| q.account.as_ref().is_none_or(|a| *a == c.account_id))
            .map(super::agent::for_page)
            .collect(),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct AgentText {
    text: String,
}

pub(crate) async fn agent_write(
    State(le): State<LiveEngage>,
    Path(id): Path<String>,
    Json(req): Json<AgentText>,
) -> Response {
    match le.agent_says(&id, &req.text) {
        Ok(sequence) => (StatusCode::CREATED, Json(json!({"sequence": sequence}))).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

pub(crate) async fn agent_close(State(le): State<LiveEngage>, Path(id): Path<String>) -> Response {
    match le.agent_closes(&id) {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_their_magic_bytes() {
        assert!(sniffed("PNG", b"\x89PNG\r\n\x1a\nrest"));
        assert!(sniffed("JPG", &[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(sniffed("GIF", b"GIF89a..."));
        assert!(!sniffed("PNG", b"GIF89a..."));
        assert!(!sniffed("BMP", b"BM"));
    }

    #[test]
    fn errors_take_the_documented_shape() {
        let e = invalid_app_token().body();
        assert_eq!(e["kind"], "resp");
        assert_eq!(e["code"], 401);
        assert_eq!(e["body"]["errorCode"], 40102);
        assert_eq!(e["type"], ".ReqBody$ErrorResp");
    }
}
