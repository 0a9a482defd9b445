//! The Graph API: `GET /oauth/access_token`, `GET /me`, `GET /me/accounts`,
//! `GET|POST|DELETE /{page-id}/subscribed_apps`, `GET /{psid}` (profiles) and other nodes,
//! `POST /me/messages` and `/{page-id}/messages` (Send API, private replies),
//! `POST /me/message_attachments` (Attachment Upload API), `GET|POST /{object-id}/comments`.
//!
//! Every call is recorded in the shared call log with the status answered, and consults
//! the fault table under `"<METHOD> <pattern>"`, e.g. `"POST /me/messages"`,
//! `"POST /{page-id}/messages"`, `"POST /{object-id}/comments"`, `"GET /{psid}"` (a
//! profile read; other single nodes are `"GET /{object-id}"`), `"GET /me/accounts"`,
//! `"POST /{page-id}/subscribed_apps"`, `"GET /oauth/access_token"`. `Fault::Refuse`
//! answers with any Graph error (e.g. `Fault::facebook_sending_restricted()`, the Send
//! API's code 10, subcode 1893063).
//!
//! Error shapes follow Graph: `{"error":{"message","type","code","error_subcode",
//! "fbtrace_id"}}` (Messenger Platform "Common Error Codes" page,
//! developers.facebook.com/docs/messenger-platform/reference/send-api/error-codes).
//!
//! Attachments by URL: the sandbox fetches only its own media (directly) and loopback
//! URLs (127.0.0.1, ::1, localhost) and checks their type by magic bytes and their size
//! (8 MB for images by URL, 25 MB otherwise); any other URL is accepted on trust of the
//! declared type and passed through unchanged.

use super::media::{self, fits, sniff};
use super::{
    Author, Facebook, HUMAN_AGENT_WINDOW_MS, Message, STANDARD_WINDOW_MS, TokenKind, TokenRec,
    comment_value, message_json, new_comment, new_mid,
};
use crate::common::{Call, Fault, now_millis, random_alnum, random_digits, same};
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::time::Duration;

const MB: usize = 1024 * 1024;
/// Messenger attachments (upload): 25 MB; images sent by URL: 8 MB (PLATFORMS.md, from the
/// Send API reference).
const MAX_UPLOAD: usize = 25 * MB;
const MAX_IMAGE_URL: usize = 8 * MB;
/// Send API: "must be UTF-8 and has a 2000 character limit".
const MAX_MESSAGE_CHARS: usize = 2000;
/// The product overview's comment limit (Meta publishes none).
const MAX_COMMENT_CHARS: usize = 5000;
/// The one message tag Meta still takes (from 2026-04-27).
const HUMAN_AGENT: &str = "HUMAN_AGENT";
/// A private reply answers a post or comment at most 7 days after it was created.
const PRIVATE_REPLY_WINDOW_MS: u64 = 7 * 24 * 3600 * 1000;
const LONG_LIVED: Duration = Duration::from_secs(60 * 24 * 3600);
const SHORT_LIVED: Duration = Duration::from_secs(5400);

/// A Graph error, rendered as `{"error":{...}}`.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: u16,
    pub code: u32,
    pub subcode: Option<u32>,
    pub kind: &'static str,
    pub message: String,
    pub transient: bool,
    pub headers: Vec<(&'static str, String)>,
}

impl GraphError {
    pub fn new(status: u16, code: u32, kind: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            subcode: None,
            kind,
            message: message.into(),
            transient: false,
            headers: Vec::new(),
        }
    }
    pub fn with_subcode(mut self, subcode: u32) -> Self {
        self.subcode = Some(subcode);
        self
    }
    /// Code 100, invalid parameter.
    pub fn param(message: impl Into<String>) -> Self {
        GraphError::new(400, 100, "OAuthException", message)
    }
    /// Graph's answer for an id that does not exist or is not reachable with this token.
    pub fn unsupported(method: &str, id: &str) -> Self {
        let verb = method.to_ascii_lowercase();
        GraphError::new(
            400,
            100,
            "GraphMethodException",
            format!(
                "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation. \
                 Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        )
        .with_subcode(33)
    }
    /// Code 190, subcode 463.
    pub fn expired() -> Self {
        GraphError::new(
            400,
            190,
            "OAuthException",
            "Error validating access token: Session has expired. The current time is later \
             than the token's expiry time.",
        )
        .with_subcode(463)
    }
    /// Code 10, subcode 2018278: outside the messaging window.
    pub fn window() -> Self {
        GraphError::window_passed().with_subcode(2018278)
    }
    /// Code 10 with the window's words and no subcode: a private reply more than 7 days
    /// after its post or comment. (Graph's subcode for this case is not in Meta's public
    /// error reference, so none is invented.)
    pub fn window_passed() -> Self {
        GraphError::new(
            400,
            10,
            "OAuthException",
            "This message is sent outside of allowed window.",
        )
    }
    pub fn body(&self) -> Value {
        let mut e = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": random_alnum(27),
        });
        if let Some(s) = self.subcode {
            e["error_subcode"] = json!(s);
        }
        if self.transient {
            e["is_transient"] = json!(true);
        }
        json!({ "error": e })
    }
}

/// A file part of a multipart request.
#[derive(Debug, Clone)]
pub(crate) struct FilePart {
    pub name: String,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// A parsed Graph request: query and body parameters merged (body wins), JSON-valued
/// form fields decoded, files from multipart.
pub(crate) struct GraphReq {
    pub method: String,
    pub params: Map<String, Value>,
    pub files: Vec<FilePart>,
    pub bearer: Option<String>,
}

impl GraphReq {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }
    /// A parameter that is an object (JSON body, or a form field holding JSON).
    pub fn obj(&self, key: &str) -> Option<&Map<String, Value>> {
        self.params.get(key).and_then(Value::as_object)
    }
    fn token(&self) -> Option<String> {
        self.str("access_token")
            .map(str::to_owned)
            .or_else(|| self.bearer.clone())
    }
}

/// Form fields may carry JSON (`recipient={"id":"..."}`), as the Send API accepts.
fn decode_field(v: &str) -> Value {
    let t = v.trim_start();
    if (t.starts_with('{') || t.starts_with('['))
        && let Ok(j) = serde_json::from_str::<Value>(v)
    {
        return j;
    }
    Value::String(v.to_owned())
}

fn form_params(raw: &[u8], into: &mut Map<String, Value>) {
    for (k, v) in url::form_urlencoded::parse(raw) {
        into.insert(k.into_owned(), decode_field(&v));
    }
}

pub(crate) async fn handle(
    State(fb): State<Facebook>,
    Path(rest): Path<String>,
    req: Request,
) -> Response {
    let method = req.method().as_str().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let path = format!("/{}", rest.trim_end_matches('/'));
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(|s| s.trim().to_owned());

    let mut params = Map::new();
    form_params(query.as_bytes(), &mut params);
    let mut files = Vec::new();
    let mut record_body = Value::Null;
    let parsed: Result<(), GraphError> = async {
        if content_type.starts_with("multipart/form-data") {
            let mut mp = Multipart::from_request(req, &())
                .await
                .map_err(|e| GraphError::param(format!("(#100) Invalid multipart body: {e}")))?;
            let mut rec = Map::new();
            while let Some(field) = mp
                .next_field()
                .await
                .map_err(|e| GraphError::param(format!("(#100) Invalid multipart body: {e}")))?
            {
                let name = field.name().unwrap_or("").to_owned();
                let is_file = field.file_name().is_some() || name == "filedata";
                let ct = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(|_| {
                    GraphError::param("(#100) Attachment size exceeds allowable limit")
                        .with_subcode(2018047)
                })?;
                if is_file {
                    rec.insert(
                        name.clone(),
                        json!(format!(
                            "<file {} bytes{}>",
                            bytes.len(),
                            ct.as_deref().map(|c| format!(", {c}")).unwrap_or_default()
                        )),
                    );
                    files.push(FilePart {
                        name,
                        content_type: ct,
                        bytes,
                    });
                } else {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    rec.insert(name.clone(), json!(text));
                    params.insert(name, decode_field(&text));
                }
            }
            record_body = Value::Object(rec);
        } else {
            let bytes = axum::body::to_bytes(req.into_body(), MAX_UPLOAD + MB)
                .await
                .map_err(|_| GraphError::param("(#100) Request body too large"))?;
            if content_type.starts_with("application/json") {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(o)) => {
                        record_body = Value::Object(o.clone());
                        params.extend(o);
                    }
                    _ => return Err(GraphError::param("(#100) Invalid JSON body")),
                }
            } else if !bytes.is_empty() {
                let mut o = Map::new();
                form_params(&bytes, &mut o);
                record_body = Value::Object(o.clone());
                params.extend(o);
            }
        }
        Ok(())
    }
    .await;

    let gr = GraphReq {
        method: method.clone(),
        params,
        files,
        bearer,
    };
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match parsed {
        Err(e) => Err(e),
        Ok(()) => fb.dispatch(&gr, &segs).await,
    };
    let (status, body, headers) = match result {
        Ok(v) => (200, v, Vec::new()),
        Err(e) => (e.status, e.body(), e.headers.clone()),
    };
    fb.shared().calls.record(Call {
        network: "facebook",
        method,
        path,
        query,
        body: record_body,
        status,
    });
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(body),
    )
        .into_response();
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

impl Facebook {
    fn endpoint(&self, method: &str, segs: &[&str]) -> String {
        let pattern = match segs {
            ["oauth", "access_token"] => "/oauth/access_token".to_owned(),
            ["me"] => "/me".to_owned(),
            ["me", edge] => format!("/me/{edge}"),
            [id] => {
                if self.lock().by_psid(id).is_some() {
                    "/{psid}".to_owned()
                } else {
                    "/{object-id}".to_owned()
                }
            }
            [_, "comments"] => "/{object-id}/comments".to_owned(),
            [_, edge] => format!("/{{page-id}}/{edge}"),
            _ => segs.join("/"),
        };
        format!("{method} {pattern}")
    }

    async fn dispatch(&self, r: &GraphReq, segs: &[&str]) -> Result<Value, GraphError> {
        let endpoint = self.endpoint(&r.method, segs);
        self.apply_faults(r, &endpoint).await?;
        if let ["oauth", "access_token"] = segs {
            return self.oauth_access_token(r);
        }
        let (token, rec) = self.authenticate(r)?;
        match (r.method.as_str(), segs) {
            ("GET", ["me"]) => self.me(&rec),
            ("GET", ["me", "accounts"]) => self.me_accounts(&rec),
            ("POST", ["me", "messages"]) => {
                let page = page_of(&rec)?;
                self.send(r, &page).await
            }
            ("POST", [id, "messages"]) => {
                let page = self.page_for(&rec, id, "post")?;
                self.send(r, &page).await
            }
            ("POST", ["me", "message_attachments"]) => {
                let page = page_of(&rec)?;
                self.upload_attachment(r, &page).await
            }
            ("POST", [id, "message_attachments"]) => {
                let page = self.page_for(&rec, id, "post")?;
                self.upload_attachment(r, &page).await
            }
            (m @ ("GET" | "POST" | "DELETE"), [id, "subscribed_apps"]) => {
                let page = self.page_for(&rec, id, m)?;
                self.subscribed_apps(r, &page)
            }
            ("POST", [id, "comments"]) => self.post_comment(r, &rec, id),
            ("GET", [id, "comments"]) => self.list_comments(&rec, id),
            ("GET", [id]) => self.node(r, &rec, id),
            (m, _) => {
                let _ = token;
                Err(GraphError::unsupported(m, &segs.join("/")))
            }
        }
    }

    /// Injected faults, in Graph's shapes: code 2 (transient, 5xx), code 4 (app rate
    /// limit, HTTP 403 — Graph answers "(#4) Application request limit reached" with 403,
    /// see python-social-auth/social-core#859) or code 32 for page tokens ("Page request
    /// limit reached"; status 400 in the sandbox — not confirmed from public material),
    /// and 190/463 for an expired token.
    async fn apply_faults(&self, r: &GraphReq, endpoint: &str) -> Result<(), GraphError> {
        let faults = self.shared().faults.take("facebook", endpoint);
        for f in &faults {
            if let Fault::Latency(d) = f {
                tokio::time::sleep(*d).await;
            }
        }
        for f in faults {
            match f {
                Fault::ServerError(status) => {
                    let mut e = GraphError::new(
                        status,
                        2,
                        "OAuthException",
                        "An unexpected error has occurred. Please retry your request later.",
                    );
                    e.transient = true;
                    return Err(e);
                }
                Fault::RateLimited { retry_after } => {
                    let minutes = retry_after.as_secs().div_ceil(60);
                    let page = r
                        .token()
                        .and_then(|t| self.lock().tokens.get(&t).cloned())
                        .and_then(|t| match t.kind {
                            TokenKind::Page { page_id } => Some(page_id),
                            TokenKind::User { .. } => None,
                        });
                    let mut e = match &page {
                        Some(page_id) => {
                            let mut e = GraphError::new(
                                400,
                                32,
                                "OAuthException",
                                "(#32) Page request limit reached",
                            );
                            e.headers.push((
                                "x-business-use-case-usage",
                                json!({ page_id: [{"type": "pages", "call_count": 100,
                                    "total_cputime": 100, "total_time": 100,
                                    "estimated_time_to_regain_access": minutes}]})
                                .to_string(),
                            ));
                            e
                        }
                        None => {
                            let mut e = GraphError::new(
                                403,
                                4,
                                "OAuthException",
                                "(#4) Application request limit reached",
                            );
                            e.headers.push((
                                "x-app-usage",
                                json!({"call_count": 100, "total_cputime": 100, "total_time": 100})
                                    .to_string(),
                            ));
                            e
                        }
                    };
                    e.transient = true;
                    return Err(e);
                }
                Fault::ExpiredToken => return Err(GraphError::expired()),
                Fault::Refuse {
                    status,
                    code,
                    subcode,
                    message,
                } => {
                    let e = GraphError::new(status, code, "OAuthException", message);
                    return Err(match subcode {
                        Some(s) => e.with_subcode(s),
                        None => e,
                    });
                }
                Fault::Latency(_) | Fault::DropWebhook => {}
            }
        }
        Ok(())
    }

    /// Checks the token (190: 460 changed session, 463 expired) and the REQUIRED
    /// `appsecret_proof` (code 100 "Invalid appsecret_proof provided in the API argument",
    /// type GraphMethodException, HTTP 400 — as reported in
    /// facebook/facebook-python-business-sdk#528).
    fn authenticate(&self, r: &GraphReq) -> Result<(String, TokenRec), GraphError> {
        let Some(token) = r.token() else {
            return Err(GraphError::new(
                400,
                2500,
                "OAuthException",
                "An active access token must be used to query information about the current user.",
            ));
        };
        let Some(rec) = self.lock().tokens.get(&token).cloned() else {
            return Err(GraphError::new(
                400,
                190,
                "OAuthException",
                "Invalid OAuth access token - Cannot parse access token",
            ));
        };
        if rec.invalidated {
            return Err(GraphError::new(
                400,
                190,
                "OAuthException",
                "Error validating access token: The session has been invalidated because the \
                 user changed their password or Facebook has changed the session for security \
                 reasons.",
            )
            .with_subcode(460));
        }
        if rec.expires.is_some_and(|t| t <= now_millis()) {
            return Err(GraphError::expired());
        }
        let proof_ok = r
            .str("appsecret_proof")
            .is_some_and(|p| same(&p.to_ascii_lowercase(), &self.appsecret_proof(&token)));
        if !proof_ok {
            return Err(GraphError::new(
                400,
                100,
                "GraphMethodException",
                "Invalid appsecret_proof provided in the API argument",
            ));
        }
        Ok((token, rec))
    }

    /// The page the token speaks for, when `id` names it (or is `me`).
    fn page_for(&self, rec: &TokenRec, id: &str, method: &str) -> Result<String, GraphError> {
        match &rec.kind {
            TokenKind::Page { page_id } if id == "me" || id == page_id => Ok(page_id.clone()),
            TokenKind::Page { .. } => Err(GraphError::unsupported(method, id)),
            TokenKind::User { .. } => Err(GraphError::new(
                400,
                210,
                "OAuthException",
                "(#210) A page access token is required to request this resource.",
            )),
        }
    }

    // ----- OAuth -----------------------------------------------------------------------

    fn oauth_access_token(&self, r: &GraphReq) -> Result<Value, GraphError> {
        if r.str("client_id") != Some(self.app_id()) {
            return Err(GraphError::new(
                400,
                101,
                "OAuthException",
                "Error validating application. Invalid application ID.",
            ));
        }
        if !r
            .str("client_secret")
            .is_some_and(|s| same(s, self.app_secret()))
        {
            return Err(GraphError::new(
                400,
                1,
                "OAuthException",
                "Error validating client secret.",
            ));
        }
        let mut st = self.lock();
        if r.str("grant_type") == Some("fb_exchange_token") {
            let old = r.str("fb_exchange_token").unwrap_or("");
            let rec = st.tokens.get(old).cloned();
            let Some(TokenRec {
                kind: kind @ TokenKind::User { .. },
                expires,
                invalidated: false,
            }) = rec
            else {
                return Err(GraphError::new(
                    400,
                    190,
                    "OAuthException",
                    "Invalid OAuth access token - Cannot parse access token",
                ));
            };
            if expires.is_some_and(|t| t <= now_millis()) {
                return Err(GraphError::expired());
            }
            let token = st.new_token(kind, Some(LONG_LIVED));
            return Ok(json!({
                "access_token": token,
                "token_type": "bearer",
                "expires_in": LONG_LIVED.as_secs(),
            }));
        }
        let code = r.str("code").unwrap_or("");
        let Some(c) = st.codes.get_mut(code) else {
            return Err(GraphError::param("Invalid verification code format.").with_subcode(36007));
        };
        if c.used {
            return Err(
                GraphError::param("This authorization code has been used.").with_subcode(36009)
            );
        }
        if r.str("redirect_uri") != Some(c.redirect_uri.as_str()) {
            return Err(GraphError::param(
                "Error validating verification code. Please make sure your redirect_uri is \
                 identical to the one you used in the OAuth dialog request",
            )
            .with_subcode(36008));
        }
        c.used = true;
        let kind = TokenKind::User {
            user_id: c.user_id.clone(),
            pages: c.pages.clone(),
        };
        let token = st.new_token(kind, Some(SHORT_LIVED));
        Ok(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": SHORT_LIVED.as_secs(),
        }))
    }

    fn me(&self, rec: &TokenRec) -> Result<Value, GraphError> {
        let st = self.lock();
        Ok(match &rec.kind {
            TokenKind::User { user_id, .. } => {
                let name = st
                    .users
                    .iter()
                    .find(|u| &u.id == user_id)
                    .map(|u| u.name.clone());
                json!({"id": user_id, "name": name})
            }
            TokenKind::Page { page_id } => {
                json!({"id": page_id, "name": st.page(page_id).map(|p| p.name.clone())})
            }
        })
    }

    fn me_accounts(&self, rec: &TokenRec) -> Result<Value, GraphError> {
        let TokenKind::User { user_id, pages } = &rec.kind else {
            return Err(GraphError::param(
                "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
            ));
        };
        let mut st = self.lock();
        let managed = st
            .users
            .iter()
            .find(|u| &u.id == user_id)
            .map(|u| u.pages.clone())
            .unwrap_or_default();
        let mut data = Vec::new();
        for page_id in managed
            .iter()
            .filter(|p| pages.is_empty() || pages.contains(p))
        {
            let Some(p) = st.page(page_id).cloned() else {
                continue;
            };
            // A page token obtained from a long-lived user token does not expire.
            let token = st.new_token(
                TokenKind::Page {
                    page_id: p.id.clone(),
                },
                None,
            );
            data.push(json!({
                "access_token": token,
                "category": p.category,
                "category_list": [{"id": "2201", "name": p.category}],
                "name": p.name,
                // Graph returns a Page's `username` when the `fields` ask for it, as
                // SocialConnect does (the m.me link needs it).
                "username": p.username,
                "id": p.id,
                "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
            }));
        }
        let cursor = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        let first = data
            .first()
            .and_then(|d| d["id"].as_str())
            .unwrap_or("")
            .to_owned();
        let last = data
            .last()
            .and_then(|d| d["id"].as_str())
            .unwrap_or("")
            .to_owned();
        Ok(json!({
            "data": data,
            "paging": {"cursors": {"before": cursor(&first), "after": cursor(&last)}},
        }))
    }

    // ----- subscriptions ---------------------------------------------------------------

    fn subscribed_apps(&self, r: &GraphReq, page_id: &str) -> Result<Value, GraphError> {
        /// Page webhook fields the sandbox knows (Meta's "Webhooks for Pages" reference).
        const FIELDS: &[&str] = &[
            "feed",
            "messages",
            "message_echoes",
            "message_deliveries",
            "message_reads",
            "message_reactions",
            "messaging_postbacks",
            "messaging_optins",
            "messaging_referrals",
            "messaging_handovers",
            "messaging_policy_enforcement",
            "standby",
            "mention",
            "name",
            "picture",
        ];
        let mut st = self.lock();
        match r.method.as_str() {
            "GET" => {
                let p = st.page(page_id).cloned();
                let data = match p {
                    Some(p) if !p.subscribed.is_empty() => vec![json!({
                        "category": "Business",
                        "link": format!("{}/facebook/app", self.shared().url),
                        "name": "SocialConnect",
                        "id": self.app_id(),
                        "subscribed_fields": p.subscribed,
                    })],
                    _ => Vec::new(),
                };
                Ok(json!({ "data": data }))
            }
            "DELETE" => {
                if let Some(p) = st.pages.iter_mut().find(|p| p.id == page_id) {
                    p.subscribed.clear();
                }
                Ok(json!({"success": true}))
            }
            _ => {
                let fields: Vec<String> = match r.params.get("subscribed_fields") {
                    Some(Value::String(s)) => s
                        .split(',')
                        .map(|f| f.trim().to_owned())
                        .filter(|f| !f.is_empty())
                        .collect(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                if fields.is_empty() {
                    return Err(GraphError::param(
                        "(#100) The parameter subscribed_fields is required",
                    ));
                }
                if let Some((i, bad)) = fields
                    .iter()
                    .enumerate()
                    .find(|(_, f)| !FIELDS.contains(&f.as_str()))
                {
                    return Err(GraphError::param(format!(
                        "(#100) Param subscribed_fields[{i}] must be one of {{{}}} - got \"{bad}\"",
                        FIELDS.join(", ")
                    )));
                }
                if let Some(p) = st.pages.iter_mut().find(|p| p.id == page_id) {
                    p.subscribed = fields;
                }
                Ok(json!({"success": true}))
            }
        }
    }

    // ----- nodes -----------------------------------------------------------------------

    fn node(&self, r: &GraphReq, rec: &TokenRec, id: &str) -> Result<Value, GraphError> {
        let token_page = match &rec.kind {
            TokenKind::Page { page_id } => Some(page_id.clone()),
            TokenKind::User { .. } => None,
        };
        let psid_owner = self.lock().by_psid(id);
        if let Some((page_id, consumer_id)) = psid_owner {
            if token_page.as_deref() != Some(page_id.as_str()) {
                return Err(GraphError::unsupported("get", id));
            }
            return self.profile(r, id, &consumer_id);
        }
        let st = self.lock();
        if let Some(p) = st.page(id) {
            return Ok(json!({"id": p.id, "name": p.name, "username": p.username,
                "category": p.category}));
        }
        if let Some(p) = st.post(id).filter(|p| !p.removed) {
            return Ok(json!({"id": p.id, "message": p.message,
                "from": {"id": p.from.id, "name": p.from.name},
                "created_time": iso8601(p.created)}));
        }
        if let Some(c) = st.comment(id).filter(|c| !c.removed) {
            return Ok(comment_node(c));
        }
        Err(GraphError::unsupported("get", id))
    }

    /// User Profile API: by default `first_name,last_name,profile_pic`; `locale`,
    /// `timezone` and `gender` only for consumers who have them (absent for EU users).
    fn profile(&self, r: &GraphReq, psid: &str, consumer_id: &str) -> Result<Value, GraphError> {
        const KNOWN: &[&str] = &[
            "id",
            "name",
            "first_name",
            "last_name",
            "profile_pic",
            "locale",
            "timezone",
            "gender",
        ];
        let fields: Vec<String> = r
            .str("fields")
            .unwrap_or("first_name,last_name,profile_pic")
            .split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect();
        if let Some(bad) = fields.iter().find(|f| !KNOWN.contains(&f.as_str())) {
            return Err(GraphError::param(format!(
                "(#100) Tried accessing nonexisting field ({bad}) on node type (User)"
            )));
        }
        let pic = {
            let existing = self.lock().pics.get(consumer_id).cloned();
            match existing {
                Some(u) => u,
                None => {
                    let url = self.new_media(media::MediaKind::Image);
                    self.lock().pics.insert(consumer_id.to_owned(), url.clone());
                    url
                }
            }
        };
        let st = self.lock();
        let Some(c) = st.consumer(consumer_id) else {
            return Err(GraphError::unsupported("get", psid));
        };
        let mut out = Map::new();
        for f in &fields {
            let v = match f.as_str() {
                "name" => json!(c.name),
                "first_name" => json!(c.first_name),
                "last_name" => json!(c.last_name),
                "profile_pic" => json!(pic),
                "locale" if c.private_fields => json!("en_US"),
                "timezone" if c.private_fields => json!(-5),
                "gender" if c.private_fields => json!("female"),
                _ => continue,
            };
            out.insert(f.clone(), v);
        }
        out.insert("id".into(), json!(psid));
        Ok(Value::Object(out))
    }

    // ----- comments --------------------------------------------------------------------

    fn post_comment(&self, r: &GraphReq, rec: &TokenRec, id: &str) -> Result<Value, GraphError> {
        let TokenKind::Page { page_id } = &rec.kind else {
            return Err(GraphError::new(
                400,
                210,
                "OAuthException",
                "(#210) A page access token is required to request this resource.",
            ));
        };
        let message = r.str("message").unwrap_or("").to_owned();
        let attachment_url = r
            .str("attachment_url")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if message.is_empty() && attachment_url.is_none() {
            return Err(GraphError::param("(#100) Missing message or attachment"));
        }
        if message.chars().count() > MAX_COMMENT_CHARS {
            return Err(GraphError::param(format!(
                "(#100) Param message must be at most {MAX_COMMENT_CHARS} characters long"
            )));
        }
        let mut st = self.lock();
        let Some(page) = st.page(page_id).cloned() else {
            return Err(GraphError::unsupported("post", id));
        };
        let from = Author {
            id: page.id.clone(),
            name: page.name.clone(),
            is_page: true,
        };
        let Some(c) = new_comment(&mut st, page_id, id, from, &message, attachment_url) else {
            return Err(GraphError::unsupported("post", id));
        };
        self.deliver_feed(&st, page_id, comment_value(&c, "add"));
        Ok(json!({"id": c.id}))
    }

    fn list_comments(&self, rec: &TokenRec, id: &str) -> Result<Value, GraphError> {
        let st = self.lock();
        let on_page = |post_id: &str| match &rec.kind {
            TokenKind::Page { page_id } => st.post(post_id).is_some_and(|p| &p.page_id == page_id),
            TokenKind::User { .. } => true,
        };
        let exists = st.post(id).is_some_and(|p| on_page(&p.id))
            || st.comment(id).is_some_and(|c| on_page(&c.post_id));
        if !exists {
            return Err(GraphError::unsupported("get", id));
        }
        let data: Vec<Value> = st
            .comments
            .iter()
            .filter(|c| c.parent_id == id && !c.removed)
            .map(comment_node)
            .collect();
        Ok(json!({"data": data, "paging": {"cursors": {"before": "", "after": ""}}}))
    }

    // ----- Send API ----------------------------------------------------------------------

    /// Resolves a message's attachment (uploaded file, reusable id or URL) into
    /// `(type, url, reusable)`, checking type and size.
    async fn resolve_attachment(
        &self,
        r: &GraphReq,
        att: &Map<String, Value>,
    ) -> Result<(String, String, bool), GraphError> {
        let kind = att.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "image" | "video" | "audio" | "file") {
            return Err(GraphError::param(
                "(#100) param message[attachment][type] must be one of {image, video, audio, file, template}",
            ));
        }
        let empty = Map::new();
        let payload = att
            .get("payload")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let reusable = payload
            .get("is_reusable")
            .is_some_and(|v| v == &json!(true) || v == &json!("true"));
        if let Some(id) = payload.get("attachment_id").and_then(Value::as_str) {
            let found = self.lock().reusable.get(id).cloned();
            return match found {
                Some((t, url)) if t == kind => Ok((t, url, false)),
                _ => Err(GraphError::param("(#100) Invalid attachment_id").with_subcode(2018047)),
            };
        }
        let failure =
            || GraphError::param("(#100) Upload attachment failure.").with_subcode(2018047);
        if let Some(file) = r.files.iter().find(|f| f.name == "filedata") {
            if file.bytes.len() > MAX_UPLOAD {
                return Err(
                    GraphError::param("(#100) Attachment size exceeds allowable limit")
                        .with_subcode(2018047),
                );
            }
            let mime = sniff(&file.bytes);
            if !fits(kind, mime) {
                return Err(failure());
            }
            let mime = mime
                .map(str::to_owned)
                .or_else(|| file.content_type.clone())
                .unwrap_or_else(|| "application/octet-stream".into());
            let id = self.lock().store_media(&mime, file.bytes.to_vec());
            return Ok((kind.to_owned(), self.media_url(&id), reusable));
        }
        let Some(url) = payload.get("url").and_then(Value::as_str) else {
            return Err(GraphError::param(
                "(#100) Message cannot be empty, must provide valid attachment or text",
            ));
        };
        let limit = if kind == "image" {
            MAX_IMAGE_URL
        } else {
            MAX_UPLOAD
        };
        let bytes = if let Some(found) = self.media(url) {
            Some(found.1)
        } else if is_loopback(url) {
            Some(fetch_limited(url, limit).await.map_err(|_| failure())?)
        } else {
            None // trusted: not fetched
        };
        if let Some(bytes) = bytes {
            if bytes.len() > limit {
                return Err(
                    GraphError::param("(#100) Attachment size exceeds allowable limit")
                        .with_subcode(2018047),
                );
            }
            if !fits(kind, sniff(&bytes)) {
                return Err(failure());
            }
        }
        Ok((kind.to_owned(), url.to_owned(), reusable))
    }

    async fn upload_attachment(&self, r: &GraphReq, _page: &str) -> Result<Value, GraphError> {
        let Some(att) = r
            .obj("message")
            .and_then(|m| m.get("attachment"))
            .and_then(Value::as_object)
        else {
            return Err(GraphError::param(
                "(#100) param message[attachment] is required",
            ));
        };
        let (kind, url, _) = self.resolve_attachment(r, att).await?;
        let id = random_digits(16);
        self.lock().reusable.insert(id.clone(), (kind, url));
        Ok(json!({"attachment_id": id}))
    }

    /// `POST /me/messages`: to a PSID within the window rules, or a private reply to a
    /// comment or visitor post. Every send is echoed (`message_echoes`) and lands in the
    /// consumer's inbox.
    async fn send(&self, r: &GraphReq, page_id: &str) -> Result<Value, GraphError> {
        let Some(recipient) = r.obj("recipient").cloned() else {
            return Err(GraphError::param(
                "(#100) param recipient must be non-empty.",
            ));
        };
        let Some(message) = r.obj("message").cloned() else {
            return Err(GraphError::param(
                "(#100) Message cannot be empty, must provide valid attachment or text",
            ));
        };
        let text = message
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let att = message.get("attachment").and_then(Value::as_object);
        match (&text, att) {
            (Some(_), Some(_)) => {
                return Err(GraphError::param(
                    "(#100) Only one of text or attachment may be set in message",
                ));
            }
            (None, None) => {
                return Err(GraphError::param(
                    "(#100) Message cannot be empty, must provide valid attachment or text",
                ));
            }
            (Some(t), None) if t.is_empty() => {
                return Err(GraphError::param(
                    "(#100) Message cannot be empty, must provide valid attachment or text",
                ));
            }
            (Some(t), None) if t.chars().count() > MAX_MESSAGE_CHARS => {
                return Err(GraphError::param(format!(
                    "(#100) Length of param message[text] must be less than or equal to {MAX_MESSAGE_CHARS}"
                )));
            }
            _ => {}
        }
        let messaging_type = r.str("messaging_type").unwrap_or("RESPONSE").to_owned();
        if !matches!(
            messaging_type.as_str(),
            "RESPONSE" | "UPDATE" | "MESSAGE_TAG"
        ) {
            return Err(GraphError::param(
                "(#100) param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}",
            ));
        }
        let tag = r.str("tag").map(str::to_owned);
        if messaging_type == "MESSAGE_TAG" && tag.is_none() {
            return Err(GraphError::param(
                "(#100) Tag is required for MESSAGE_TAG messaging type",
            ));
        }
        // From 2026-04-27 HUMAN_AGENT is the one message tag left; the three update tags
        // are refused with code 100 (PLATFORMS.md, Meta's 2026 changes), as is any tag
        // Graph never had. The words are the sandbox's.
        match tag.as_deref() {
            None | Some(HUMAN_AGENT) => {}
            Some(t @ ("CONFIRMED_EVENT_UPDATE" | "ACCOUNT_UPDATE" | "POST_PURCHASE_UPDATE")) => {
                return Err(GraphError::param(format!(
                    "(#100) The message tag {t} is no longer supported; use HUMAN_AGENT for \
                     replies by people within 7 days"
                )));
            }
            Some(_) => {
                return Err(GraphError::param(
                    "(#100) param tag must be one of {HUMAN_AGENT}",
                ));
            }
        }
        let (attachments, reusable) = match att {
            Some(a) => {
                let (kind, url, reusable) = self.resolve_attachment(r, a).await?;
                (
                    vec![super::Attachment {
                        kind,
                        url,
                        title: None,
                    }],
                    reusable,
                )
            }
            None => (Vec::new(), false),
        };

        let mut st = self.lock();
        let now = now_millis();
        let (consumer_id, private_to) =
            if let Some(psid) = recipient.get("id").and_then(Value::as_str) {
                let Some((p, consumer_id)) = st.by_psid(psid).filter(|(p, _)| p == page_id) else {
                    return Err(
                        GraphError::param("(#100) No matching user found").with_subcode(2018001)
                    );
                };
                debug_assert_eq!(p, page_id);
                let age = st
                    .last_inbound
                    .get(&(page_id.to_owned(), consumer_id.clone()))
                    .map(|t| now.saturating_sub(*t));
                let human_agent =
                    messaging_type == "MESSAGE_TAG" && tag.as_deref() == Some(HUMAN_AGENT);
                let allowed = match age {
                    Some(a) if a <= STANDARD_WINDOW_MS => {
                        messaging_type != "MESSAGE_TAG" || human_agent
                    }
                    Some(a) if a <= HUMAN_AGENT_WINDOW_MS => human_agent,
                    _ => false,
                };
                if !allowed {
                    return Err(GraphError::window());
                }
                (consumer_id, None)
            } else if let Some((field, object_id)) = ["comment_id", "post_id"]
                .into_iter()
                .find_map(|f| recipient.get(f).and_then(Value::as_str).map(|id| (f, id)))
            {
                // A comment is named by `comment_id` and a visitor post by `post_id`
                // (Messenger Platform, "Private Replies"); either one named by the other
                // field is an invalid parameter (the words are the sandbox's).
                let (comment, post) = (st.comment(object_id), st.post(object_id));
                let (author, created, on_page) = match (field, comment, post) {
                    ("comment_id", Some(c), _) => {
                        let on = st.post(&c.post_id).is_some_and(|p| p.page_id == page_id);
                        (c.from.clone(), c.created, on && !c.removed)
                    }
                    ("post_id", _, Some(p)) => (
                        p.from.clone(),
                        p.created,
                        p.page_id == page_id && !p.removed,
                    ),
                    (_, None, None) => return Err(GraphError::unsupported("post", object_id)),
                    _ => {
                        let kind = field.trim_end_matches("_id");
                        return Err(GraphError::param(format!(
                            "(#100) {object_id} is not a {kind}: check recipient.{field}"
                        )));
                    }
                };
                if !on_page {
                    return Err(GraphError::unsupported("post", object_id));
                }
                if author.is_page {
                    // Sandbox wording: the Page cannot privately reply to its own content.
                    return Err(GraphError::param(
                        "(#100) Cannot send a private reply to the Page's own post or comment",
                    ));
                }
                if st.private_replied.contains(object_id) {
                    // Graph's answer to a second private reply: code 10900, "Activity
                    // already replied to" (PLATFORMS.md, Meta's 2026 changes).
                    return Err(GraphError::new(
                        400,
                        10900,
                        "OAuthException",
                        "Activity already replied to",
                    ));
                }
                // "The message must be sent within 7 days from when the post or comment
                // was created" (Messenger Platform, "Private Replies").
                if now.saturating_sub(created) > PRIVATE_REPLY_WINDOW_MS {
                    return Err(GraphError::window_passed());
                }
                st.private_replied.insert(object_id.to_owned());
                (author.id, Some(object_id.to_owned()))
            } else {
                return Err(GraphError::param(
                    "(#100) param recipient must be non-empty.",
                ));
            };
        let psid = st.psid(page_id, &consumer_id);
        let msg = Message {
            mid: new_mid(),
            page_id: page_id.to_owned(),
            consumer_id,
            from_page: true,
            text,
            attachments,
            timestamp: now,
            messaging_type: Some(messaging_type),
            tag,
            private_reply_to: private_to,
        };
        st.messages.push(msg.clone());
        let mut out = json!({"recipient_id": psid, "message_id": msg.mid});
        if reusable {
            let id = random_digits(16);
            let a = &msg.attachments[0];
            st.reusable
                .insert(id.clone(), (a.kind.clone(), a.url.clone()));
            out["attachment_id"] = json!(id);
        }
        let event = json!({
            "sender": {"id": page_id},
            "recipient": {"id": psid},
            "timestamp": now,
            "message": message_json(&msg, Some(self.app_id())),
        });
        self.deliver_messaging(&st, page_id, "message_echoes", event);
        Ok(out)
    }
}

fn page_of(rec: &TokenRec) -> Result<String, GraphError> {
    match &rec.kind {
        TokenKind::Page { page_id } => Ok(page_id.clone()),
        TokenKind::User { .. } => Err(GraphError::new(
            400,
            210,
            "OAuthException",
            "(#210) A page access token is required to request this resource.",
        )),
    }
}

fn comment_node(c: &super::Comment) -> Value {
    let mut v = json!({
        "id": c.id,
        "from": {"id": c.from.id, "name": c.from.name},
        "message": c.message,
        "created_time": iso8601(c.created),
    });
    if c.parent_id != c.post_id {
        v["parent"] = json!({"id": c.parent_id});
    }
    v
}

fn is_loopback(url: &str) -> bool {
    url::Url::parse(url).ok().is_some_and(|u| {
        matches!(
            u.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
        )
    })
}

async fn fetch_limited(url: &str, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut resp = crate::common::product_client()
        .build()?
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .error_for_status()?;
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        out.extend_from_slice(&chunk);
        if out.len() > limit {
            break;
        }
    }
    Ok(out)
}

/// `2024-05-01T12:00:00+0000`, as Graph formats `created_time` in node reads.
pub(crate) fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_like_graph() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00+0000");
        assert_eq!(iso8601(1_714_564_800_000), "2024-05-01T12:00:00+0000");
    }

    #[test]
    fn form_fields_may_hold_json() {
        let mut m = Map::new();
        form_params(b"recipient=%7B%22id%22%3A%221%22%7D&x=plain", &mut m);
        assert_eq!(m["recipient"], json!({"id": "1"}));
        assert_eq!(m["x"], json!("plain"));
    }

    #[test]
    fn error_body_has_graph_shape() {
        let b = GraphError::window().body();
        assert_eq!(b["error"]["code"], 10);
        assert_eq!(b["error"]["error_subcode"], 2018278);
        assert!(b["error"]["fbtrace_id"].is_string());
    }
}
