//! The HTTP API: one dispatcher per host that records every call, applies injected
//! faults and the per-endpoint budget, and routes to the handlers.
//!
//! Error shapes (X docs `x-api/fundamentals/response-codes-and-errors`): v2 problems
//! `{"title","detail","type","status"}` (invalid requests add `errors:[{message,...}]`),
//! v1.1 `{"errors":[{"code","message"}]}`.

// Handlers return a ready `Response` as their error; its size does not matter here.
#![allow(clippy::result_large_err)]

use super::{
    Media, MediaState, Token, TokenKind, Twitter, Webhook, XaaSub, dm_conversation_id, events, iso,
    oauth, rules,
};
use crate::common::{Call, Fault, now_millis, random_alnum, random_digits, same};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Requests allowed per endpoint per 15-minute window (a generous stand-in for X's
/// per-endpoint limits; faults give 429s on demand).
const BUDGET: u32 = 900;
const WINDOW_SECS: u64 = 900;
/// Media ids are usable for 24 hours (`expires_after_secs: 86400`).
const MEDIA_TTL_MS: u64 = 86_400_000;

pub(crate) struct Req {
    pub method: Method,
    /// The URLs the signature may have been made over (configured base, and Host header).
    pub urls: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub form: Vec<(String, String)>,
    pub json: Option<Value>,
    /// Multipart text fields and the `media` file, when multipart.
    pub parts: Vec<(String, String)>,
    pub file: Option<Vec<u8>>,
    pub v1: bool,
}

impl Req {
    /// A parameter from the query, form, multipart fields or JSON body.
    fn param(&self, name: &str) -> Option<String> {
        self.query
            .iter()
            .chain(self.form.iter())
            .chain(self.parts.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                self.json.as_ref().and_then(|j| match &j[name] {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
            })
    }
}

enum Auth {
    /// OAuth 1.0a user context (access token of this user).
    User(String),
    /// OAuth 1.0a with a request token (only for `/oauth/access_token`).
    RequestToken(String),
    /// OAuth 1.0a signed by the consumer alone (request_token).
    Consumer,
    /// App-only Bearer token.
    App,
}

// ----- error helpers -------------------------------------------------------------------

pub(crate) fn problem(status: u16, title: &str, detail: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"title": title, "detail": detail, "type": "about:blank", "status": status});
    (code, axum::Json(body)).into_response()
}

fn invalid(message: &str) -> Response {
    let body = json!({
        "errors": [{"parameters": {}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn v1_error(status: u16, code: u32, message: &str) -> Response {
    let s = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        s,
        axum::Json(json!({"errors": [{"code": code, "message": message}]})),
    )
        .into_response()
}

/// An error in the shape of the endpoint's API version.
fn err(req: &Req, status: u16, code: u32, title: &str, message: &str) -> Response {
    if req.v1 {
        v1_error(status, code, message)
    } else if status == 400 {
        invalid(message)
    } else {
        problem(status, title, message)
    }
}

fn unauthorized(req: &Req, code: u32, message: &str) -> Response {
    if req.v1 {
        v1_error(401, code, message)
    } else {
        // v2 answers 401 with a problem; the v1.1 code rides along for connectors that
        // look for 89 / 32.
        let body = json!({
            "title": "Unauthorized", "detail": message, "type": "about:blank", "status": 401,
            "errors": [{"code": code, "message": message}],
        });
        (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
    }
}

fn rate_headers(res: &mut Response, limit: u32, remaining: u32, reset: u64) {
    let h = res.headers_mut();
    h.insert("x-rate-limit-limit", HeaderValue::from(limit));
    h.insert("x-rate-limit-remaining", HeaderValue::from(remaining));
    h.insert("x-rate-limit-reset", HeaderValue::from(reset));
}

fn rate_limited(v1: bool, reset: u64) -> Response {
    let mut res = if v1 {
        v1_error(429, 88, "Rate limit exceeded")
    } else {
        problem(429, "Too Many Requests", "Too Many Requests")
    };
    rate_headers(&mut res, BUDGET, 0, reset);
    res
}

// ----- dispatch -----------------------------------------------------------------------

pub(crate) async fn dispatch_api(State(tw): State<Twitter>, req: Request) -> Response {
    tw.dispatch("/api", req).await
}

pub(crate) async fn dispatch_upload(State(tw): State<Twitter>, req: Request) -> Response {
    tw.dispatch("/upload", req).await
}

/// Serves media bytes (and a placeholder avatar) at `/twitter/media/{key}`.
fn route_of(method: &Method, segs: &[&str]) -> Option<&'static str> {
    let m = method.as_str();
    Some(match (m, segs) {
        ("POST", ["oauth", "request_token"]) => "POST /oauth/request_token",
        ("GET", ["oauth", "authorize"]) => "GET /oauth/authorize",
        ("POST", ["oauth", "authorize"]) => "POST /oauth/authorize",
        ("POST", ["oauth", "access_token"]) => "POST /oauth/access_token",
        ("POST", ["oauth2", "token"]) => "POST /oauth2/token",
        ("GET", ["1.1", "ton", "data", "dm", _, _, _]) => {
            "GET /1.1/ton/data/dm/{dm_id}/{media_id}/{file}"
        }
        ("POST", ["2", "webhooks"]) => "POST /2/webhooks",
        ("GET", ["2", "webhooks"]) => "GET /2/webhooks",
        ("PUT", ["2", "webhooks", _]) => "PUT /2/webhooks/{webhook_id}",
        ("DELETE", ["2", "webhooks", _]) => "DELETE /2/webhooks/{webhook_id}",
        ("POST", ["2", "activity", "subscriptions"]) => "POST /2/activity/subscriptions",
        ("GET", ["2", "activity", "subscriptions"]) => "GET /2/activity/subscriptions",
        ("DELETE", ["2", "activity", "subscriptions", _]) => {
            "DELETE /2/activity/subscriptions/{subscription_id}"
        }
        (
            "POST",
            [
                "2",
                "account_activity",
                "webhooks",
                _,
                "subscriptions",
                "all",
            ],
        ) => "POST /2/account_activity/webhooks/{webhook_id}/subscriptions/all",
        (
            "GET",
            [
                "2",
                "account_activity",
                "webhooks",
                _,
                "subscriptions",
                "all",
            ],
        ) => "GET /2/account_activity/webhooks/{webhook_id}/subscriptions/all",
        (
            "GET",
            [
                "2",
                "account_activity",
                "webhooks",
                _,
                "subscriptions",
                "all",
                "list",
            ],
        ) => "GET /2/account_activity/webhooks/{webhook_id}/subscriptions/all/list",
        (
            "DELETE",
            [
                "2",
                "account_activity",
                "webhooks",
                _,
                "subscriptions",
                _,
                "all",
            ],
        ) => "DELETE /2/account_activity/webhooks/{webhook_id}/subscriptions/{user_id}/all",
        ("POST", ["2", "tweets"]) => "POST /2/tweets",
        ("POST", ["2", "dm_conversations", "with", _, "messages"]) => {
            "POST /2/dm_conversations/with/{participant_id}/messages"
        }
        ("POST", ["1.1", "direct_messages", "events", "new.json"]) => {
            "POST /1.1/direct_messages/events/new.json"
        }
        ("GET", ["2", "users", "me"]) => "GET /2/users/me",
        ("GET", ["2", "users", _]) => "GET /2/users/{id}",
        ("POST", ["2", "media", "upload"]) => "POST /2/media/upload",
        ("GET", ["2", "media", "upload"]) => "GET /2/media/upload",
        ("POST", ["2", "media", "upload", "initialize"]) => "POST /2/media/upload/initialize",
        ("POST", ["2", "media", "upload", _, "append"]) => "POST /2/media/upload/{id}/append",
        ("POST", ["2", "media", "upload", _, "finalize"]) => "POST /2/media/upload/{id}/finalize",
        ("POST", ["1.1", "media", "upload.json"]) => "POST /1.1/media/upload.json",
        ("GET", ["1.1", "media", "upload.json"]) => "GET /1.1/media/upload.json",
        _ => return None,
    })
}

impl Twitter {
    async fn dispatch(&self, base: &str, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 600 * 1024 * 1024)
            .await
            .unwrap_or_default();
        let full = parts.uri.path().to_owned();
        let path = full
            .strip_prefix(base)
            .unwrap_or(&full)
            .to_owned()
            .replace("//", "/");
        let raw_query = parts.uri.query().unwrap_or_default().to_owned();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut urls = vec![format!("{}/twitter{base}{path}", self.shared.url)];
        if let Some(host) = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
        {
            urls.push(format!("http://{host}/twitter{base}{path}"));
        }
        let ctype = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut req = Req {
            method: parts.method.clone(),
            urls,
            query: oauth::parse_pairs(&raw_query),
            headers: parts.headers.clone(),
            form: Vec::new(),
            json: None,
            parts: Vec::new(),
            file: None,
            v1: path.starts_with("/1.1") || path.starts_with("/oauth"),
        };
        let call_body;
        if ctype.starts_with("application/x-www-form-urlencoded") {
            req.form = oauth::parse_pairs(&String::from_utf8_lossy(&bytes));
            call_body = Value::Object(
                req.form
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect(),
            );
        } else if ctype.starts_with("multipart/form-data") {
            let mut r = axum::http::Request::new(Body::from(bytes.clone()));
            *r.headers_mut() = parts.headers.clone();
            let mut desc = serde_json::Map::new();
            if let Ok(mut mp) = Multipart::from_request(r, &()).await {
                while let Ok(Some(field)) = mp.next_field().await {
                    let name = field.name().unwrap_or_default().to_owned();
                    let is_file = field.file_name().is_some() || name == "media";
                    let data: Bytes = field.bytes().await.unwrap_or_default();
                    if is_file {
                        desc.insert(name, json!(format!("<{} bytes>", data.len())));
                        req.file = Some(data.to_vec());
                    } else {
                        let text = String::from_utf8_lossy(&data).into_owned();
                        desc.insert(name.clone(), json!(text));
                        req.parts.push((name, text));
                    }
                }
            }
            call_body = Value::Object(desc);
        } else if !bytes.is_empty() {
            req.json = serde_json::from_slice(&bytes).ok();
            call_body = req
                .json
                .clone()
                .unwrap_or_else(|| json!(format!("<{} bytes>", bytes.len())));
        } else {
            call_body = Value::Null;
        }

        let route = route_of(&parts.method, &segs);
        let res = match route {
            None => err(
                &req,
                404,
                34,
                "Not Found",
                "Sorry, that page does not exist.",
            ),
            Some(route) => self.run(route, &segs, &req).await,
        };
        self.shared.calls.record(Call {
            network: "twitter",
            method: parts.method.to_string(),
            path,
            query: raw_query,
            body: call_body,
            status: res.status().as_u16(),
        });
        res
    }

    /// Faults, budget, then the handler.
    async fn run(&self, route: &str, segs: &[&str], req: &Req) -> Response {
        let now = now_millis() / 1000;
        for fault in self.shared.faults.take("twitter", route) {
            match fault {
                Fault::Latency(d) => tokio::time::sleep(d).await,
                Fault::ServerError(status) => {
                    return if req.v1 {
                        v1_error(status, 131, "Internal error")
                    } else {
                        problem(status, "Service Unavailable", "Service Unavailable")
                    };
                }
                Fault::RateLimited { retry_after } => {
                    return rate_limited(req.v1, now + retry_after.as_secs().max(1));
                }
                Fault::ExpiredToken => {
                    return unauthorized(req, 89, "Invalid or expired token.");
                }
                Fault::Refuse {
                    status,
                    code,
                    message,
                    ..
                } => {
                    let title = StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("Error");
                    return err(req, status, code, title, &message);
                }
                Fault::DropWebhook => {}
            }
        }
        let (remaining, reset) = {
            let mut st = self.lock();
            let entry = st.budget.entry(route.to_owned()).or_insert((now, 0));
            if now >= entry.0 + WINDOW_SECS {
                *entry = (now, 0);
            }
            entry.1 += 1;
            (BUDGET.saturating_sub(entry.1), entry.0 + WINDOW_SECS)
        };
        if remaining == 0 && !route.contains("/oauth/authorize") {
            return rate_limited(req.v1, reset);
        }
        let mut res = self.handle(route, segs, req).await;
        rate_headers(&mut res, BUDGET, remaining, reset);
        res
    }

    async fn handle(&self, route: &str, segs: &[&str], req: &Req) -> Response {
        let seg = |i: usize| segs.get(i).copied().unwrap_or_default().to_owned();
        match route {
            "POST /oauth/request_token" => self.request_token(req),
            "GET /oauth/authorize" => self.authorize_page(req),
            "POST /oauth/authorize" => self.authorize_submit(req),
            "POST /oauth/access_token" => self.access_token(req),
            "POST /oauth2/token" => self.bearer_token(req),
            "GET /1.1/ton/data/dm/{dm_id}/{media_id}/{file}" => {
                self.dm_media(req, &seg(4), &seg(5))
            }
            "POST /2/webhooks" => self.webhook_create(req).await,
            "GET /2/webhooks" => self.webhook_list(req),
            "PUT /2/webhooks/{webhook_id}" => self.webhook_recheck(req, &seg(2)).await,
            "DELETE /2/webhooks/{webhook_id}" => self.webhook_delete(req, &seg(2)),
            "POST /2/activity/subscriptions" => self.xaa_create(req),
            "GET /2/activity/subscriptions" => self.xaa_list(req),
            "DELETE /2/activity/subscriptions/{subscription_id}" => self.xaa_delete(req, &seg(3)),
            "POST /2/account_activity/webhooks/{webhook_id}/subscriptions/all" => {
                self.aaa_subscribe(req, &seg(3))
            }
            "GET /2/account_activity/webhooks/{webhook_id}/subscriptions/all" => {
                self.aaa_check(req, &seg(3))
            }
            "GET /2/account_activity/webhooks/{webhook_id}/subscriptions/all/list" => {
                self.aaa_list(req, &seg(3))
            }
            "DELETE /2/account_activity/webhooks/{webhook_id}/subscriptions/{user_id}/all" => {
                self.aaa_delete(req, &seg(3), &seg(5))
            }
            "POST /2/tweets" => self.create_tweet(req),
            "POST /2/dm_conversations/with/{participant_id}/messages" => {
                self.send_dm_v2(req, &seg(3))
            }
            "POST /1.1/direct_messages/events/new.json" => self.send_dm_v1(req),
            "GET /2/users/me" => self.user_me(req),
            "GET /2/users/{id}" => self.user_get(req, &seg(2)),
            "POST /2/media/upload/initialize" => self.media(req, Some("INIT"), None),
            "POST /2/media/upload/{id}/append" => self.media(req, Some("APPEND"), Some(seg(3))),
            "POST /2/media/upload/{id}/finalize" => self.media(req, Some("FINALIZE"), Some(seg(3))),
            _ if route.contains("media/upload") => self.media(req, None, None),
            _ => err(
                req,
                404,
                34,
                "Not Found",
                "Sorry, that page does not exist.",
            ),
        }
    }

    /// A Direct Message's media, as `ton.twitter.com` serves it: only to a GET signed with
    /// OAuth 1.0a by one of the two people in the conversation (X's "Retrieving media").
    fn dm_media(&self, req: &Req, dm_id: &str, media_id: &str) -> Response {
        let user = match self.authenticate(req) {
            Ok(Auth::User(user)) => user,
            Ok(_) => {
                return unauthorized(
                    req,
                    220,
                    "Your credentials do not allow access to this resource.",
                );
            }
            Err(res) => return res,
        };
        let st = self.lock();
        let Some(dm) = st
            .dms
            .iter()
            .find(|d| d.id == dm_id && d.media_id.as_deref() == Some(media_id))
        else {
            return err(
                req,
                404,
                34,
                "Not Found",
                "Sorry, that page does not exist.",
            );
        };
        if dm.sender_id != user && dm.recipient_id != user {
            return err(req, 403, 200, "Forbidden", "Forbidden.");
        }
        match st.media.get(media_id) {
            Some(m) => ([(header::CONTENT_TYPE, m.media_type.clone())], m.bytes()).into_response(),
            None => err(
                req,
                404,
                34,
                "Not Found",
                "Sorry, that page does not exist.",
            ),
        }
    }

    // ----- authentication ---------------------------------------------------------------

    fn authenticate(&self, req: &Req) -> Result<Auth, Response> {
        let Some(value) = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
        else {
            return Err(unauthorized(req, 215, "Bad Authentication data."));
        };
        if let Some(token) = value.strip_prefix("Bearer ") {
            let ok = same(token.trim(), &self.lock().bearer);
            return if ok {
                Ok(Auth::App)
            } else {
                Err(unauthorized(req, 89, "Invalid or expired token."))
            };
        }
        let Some(oauth_params) = oauth::parse_header(value) else {
            return Err(unauthorized(req, 215, "Bad Authentication data."));
        };
        let get = |k: &str| {
            oauth_params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let bad = || unauthorized(req, 32, "Could not authenticate you.");
        if get("oauth_consumer_key").as_deref() != Some(self.consumer_key.as_str())
            || get("oauth_signature_method").as_deref() != Some("HMAC-SHA1")
        {
            return Err(bad());
        }
        let (Some(sig), Some(ts), Some(nonce)) = (
            get("oauth_signature"),
            get("oauth_timestamp"),
            get("oauth_nonce"),
        ) else {
            return Err(bad());
        };
        let ts: u64 = ts.parse().map_err(|_| bad())?;
        let now = now_millis() / 1000;
        if ts.abs_diff(now) > 300 {
            return Err(unauthorized(req, 135, "Timestamp out of bounds."));
        }
        let token = get("oauth_token").filter(|t| !t.is_empty());
        let stored: Option<Token> = match &token {
            Some(t) => match self.lock().tokens.get(t) {
                Some(s) => Some(s.clone()),
                None => return Err(unauthorized(req, 89, "Invalid or expired token.")),
            },
            None => None,
        };
        let token_secret = stored
            .as_ref()
            .map(|t| t.secret.clone())
            .unwrap_or_default();
        // Parameters: query, form body and the oauth_* header values (RFC 5849 §3.4.1.3).
        let mut params: Vec<(String, String)> = req.query.clone();
        params.extend(req.form.iter().cloned());
        params.extend(oauth_params.iter().cloned());
        let verified = req.urls.iter().any(|url| {
            let base = oauth::base_string(req.method.as_str(), url, &params);
            same(
                &oauth::sign(&base, &self.consumer_secret, &token_secret),
                &sig,
            )
        });
        if !verified {
            return Err(bad());
        }
        // A nonce is good once (RFC 5849 §3.3).
        if !self
            .lock()
            .nonces
            .insert(format!("{}:{nonce}", token.clone().unwrap_or_default()))
        {
            return Err(bad());
        }
        Ok(match (token, stored.map(|s| s.kind)) {
            (Some(_), Some(TokenKind::Access { user_id })) => Auth::User(user_id),
            (Some(t), Some(TokenKind::Request { .. })) => Auth::RequestToken(t),
            _ => Auth::Consumer,
        })
    }

    fn user_auth(&self, req: &Req) -> Result<String, Response> {
        match self.authenticate(req)? {
            Auth::User(id) => Ok(id),
            Auth::App => Err(problem(
                403,
                "Unsupported Authentication",
                "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
            )),
            _ => Err(unauthorized(req, 89, "Invalid or expired token.")),
        }
    }

    fn app_auth(&self, req: &Req) -> Result<(), Response> {
        match self.authenticate(req)? {
            Auth::App => Ok(()),
            _ => Err(problem(
                403,
                "Unsupported Authentication",
                "Authenticating with OAuth 1.0a User Context is forbidden for this endpoint.  Supported authentication types are [OAuth 2.0 Application-Only].",
            )),
        }
    }

    // ----- OAuth 1.0a three-legged flow -----------------------------------------------

    fn request_token(&self, req: &Req) -> Response {
        if let Err(e) = self.authenticate(req) {
            return e;
        }
        let header_cb = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(oauth::parse_header)
            .and_then(|p| p.into_iter().find(|(k, _)| k == "oauth_callback"))
            .map(|(_, v)| v);
        let Some(callback) = header_cb.or_else(|| req.param("oauth_callback")) else {
            return v1_error(400, 32, "Could not authenticate you.");
        };
        let token = random_alnum(27);
        let secret = random_alnum(32);
        self.lock().tokens.insert(
            token.clone(),
            Token {
                secret: secret.clone(),
                kind: TokenKind::Request {
                    callback,
                    authorized: None,
                },
            },
        );
        form_response(&[
            ("oauth_token", &token),
            ("oauth_token_secret", &secret),
            ("oauth_callback_confirmed", "true"),
        ])
    }

    fn authorize_page(&self, req: &Req) -> Response {
        let token = req.param("oauth_token").unwrap_or_default();
        let known = matches!(
            self.lock().tokens.get(&token).map(|t| &t.kind),
            Some(TokenKind::Request { .. })
        );
        if !known {
            return (
                StatusCode::BAD_REQUEST,
                Html("<!doctype html><title>X</title><p>This page is no longer valid. It looks like someone already used the token information you provided.</p>".to_owned()),
            )
                .into_response();
        }
        let options: String = self
            .brands()
            .iter()
            .map(|(id, name)| format!("<option value=\"{}\">@{}</option>", esc(id), esc(name)))
            .collect();
        Html(format!(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Authorize access — X (sandbox)</title>\
             <h1>Authorize SocialConnect to access your account?</h1>\
             <form method=post action=\"authorize\">\
             <input type=hidden name=oauth_token value=\"{}\">\
             <label>Sign in as <select name=user_id aria-label=\"Account\">{options}</select></label>\
             <p>This application will be able to read posts, post and send Direct Messages for you.</p>\
             <button type=submit name=decision value=allow>Authorize App</button> \
             <button type=submit name=decision value=deny>Cancel</button>\
             </form></html>",
            esc(&token)
        ))
        .into_response()
    }

    fn authorize_submit(&self, req: &Req) -> Response {
        let token = req.param("oauth_token").unwrap_or_default();
        let user_id = req.param("user_id").unwrap_or_default();
        let allow = req.param("decision").as_deref() != Some("deny");
        let mut st = self.lock();
        let user_ok = st.users.contains_key(&user_id);
        let Some(Token {
            kind:
                TokenKind::Request {
                    callback,
                    authorized,
                },
            ..
        }) = st.tokens.get_mut(&token)
        else {
            return (StatusCode::BAD_REQUEST, "unknown oauth_token").into_response();
        };
        let sep = if callback.contains('?') { '&' } else { '?' };
        if !allow || !user_ok {
            let to = format!("{callback}{sep}denied={}", oauth::encode(&token));
            return Redirect::to(&to).into_response();
        }
        let verifier = random_alnum(32);
        *authorized = Some((user_id, verifier.clone()));
        let to = format!(
            "{callback}{sep}oauth_token={}&oauth_verifier={}",
            oauth::encode(&token),
            oauth::encode(&verifier)
        );
        Redirect::to(&to).into_response()
    }

    fn access_token(&self, req: &Req) -> Response {
        let token = match self.authenticate(req) {
            Ok(Auth::RequestToken(t)) => t,
            Ok(_) => return v1_error(401, 89, "Invalid or expired token."),
            Err(e) => return e,
        };
        let verifier = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(oauth::parse_header)
            .and_then(|p| p.into_iter().find(|(k, _)| k == "oauth_verifier"))
            .map(|(_, v)| v)
            .or_else(|| req.param("oauth_verifier"))
            .unwrap_or_default();
        let mut st = self.lock();
        let user_id = match st.tokens.get(&token).map(|t| &t.kind) {
            Some(TokenKind::Request {
                authorized: Some((user, v)),
                ..
            }) if same(v, &verifier) => user.clone(),
            _ => return v1_error(401, 89, "Invalid or expired token."),
        };
        st.tokens.remove(&token);
        let access = format!("{user_id}-{}", random_alnum(40));
        let secret = random_alnum(45);
        st.tokens.insert(
            access.clone(),
            Token {
                secret: secret.clone(),
                kind: TokenKind::Access {
                    user_id: user_id.clone(),
                },
            },
        );
        let screen_name = st
            .users
            .get(&user_id)
            .map(|u| u.username.clone())
            .unwrap_or_default();
        form_response(&[
            ("oauth_token", &access),
            ("oauth_token_secret", &secret),
            ("user_id", &user_id),
            ("screen_name", &screen_name),
        ])
    }

    /// `POST /oauth2/token`: app-only Bearer token from `Basic base64(key:secret)`.
    fn bearer_token(&self, req: &Req) -> Response {
        let denied = || {
            (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"errors": [{"code": 99, "label": "authenticity_token_error", "message": "Unable to verify your credentials"}]})),
            )
                .into_response()
        };
        let creds = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok());
        let Some((key, secret)) = creds.as_deref().and_then(|c| c.split_once(':')) else {
            return denied();
        };
        if !same(&oauth::decode(key), &self.consumer_key)
            || !same(&oauth::decode(secret), &self.consumer_secret)
        {
            return denied();
        }
        if req.param("grant_type").as_deref() != Some("client_credentials") {
            return v1_error(403, 170, "Missing required parameter: grant_type");
        }
        let token = self.lock().bearer.clone();
        axum::Json(json!({"token_type": "bearer", "access_token": token})).into_response()
    }

    // ----- webhooks (X docs `x-api/webhooks/introduction`) --------------------------------

    async fn webhook_create(&self, req: &Req) -> Response {
        if let Err(e) = self.app_auth(req) {
            return e;
        }
        let url = req
            .json
            .as_ref()
            .and_then(|j| j["url"].as_str())
            .map(str::to_owned)
            .or_else(|| req.param("url"))
            .unwrap_or_default();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return invalid("The `url` query parameter value [] is not valid.");
        }
        if let Err(why) = self.crc(&url).await {
            return invalid(&format!("CRC check failed: {why}"));
        }
        let hook = Webhook {
            id: random_digits(19),
            url,
            valid: true,
            created_ms: now_millis(),
        };
        let body = webhook_json(&hook);
        self.lock().webhooks.push(hook);
        axum::Json(json!({ "data": body })).into_response()
    }

    fn webhook_list(&self, req: &Req) -> Response {
        if let Err(e) = self.app_auth(req) {
            return e;
        }
        let list: Vec<Value> = self.lock().webhooks.iter().map(webhook_json).collect();
        let n = list.len();
        axum::Json(json!({"data": list, "meta": {"result_count": n}})).into_response()
    }

    async fn webhook_recheck(&self, req: &Req, id: &str) -> Response {
        if let Err(e) = self.app_auth(req) {
            return e;
        }
        let Some(url) = self
            .lock()
            .webhooks
            .iter()
            .find(|w| w.id == id)
            .map(|w| w.url.clone())
        else {
            return invalid("Webhook not found");
        };
        let ok = self.crc(&url).await.is_ok();
        if let Some(w) = self.lock().webhooks.iter_mut().find(|w| w.id == id) {
            w.valid = ok;
        }
        axum::Json(json!({"data": {"valid": ok}})).into_response()
    }

    fn webhook_delete(&self, req: &Req, id: &str) -> Response {
        if let Err(e) = self.app_auth(req) {
            return e;
        }
        let mut st = self.lock();
        let before = st.webhooks.len();
        st.webhooks.retain(|w| w.id != id);
        if st.webhooks.len() == before {
            return invalid("Webhook not found");
        }
        st.aaa_subs.retain(|(w, _)| w != id);
        st.xaa_subs.retain(|s| s.webhook_id.as_deref() != Some(id));
        axum::Json(json!({"data": {"deleted": true}})).into_response()
    }

    // ----- X Activity API subscriptions (X docs `x-api/activity/introduction`) ----------

    fn xaa_create(&self, req: &Req) -> Response {
        let caller = match self.authenticate(req) {
            Ok(Auth::App) => None,
            Ok(Auth::User(u)) => Some(u),
            Ok(_) => return unauthorized(req, 89, "Invalid or expired token."),
            Err(e) => return e,
        };
        let j = req.json.clone().unwrap_or_default();
        let event_type = j["event_type"].as_str().unwrap_or_default().to_owned();
        let user_id = j["filter"]["user_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let webhook_id = j["webhook_id"].as_str().map(str::to_owned);
        let tag = j["tag"].as_str().map(str::to_owned);
        if !events::EVENT_TYPES.contains(&event_type.as_str()) {
            return invalid(&format!("Invalid event_type: [{event_type}]"));
        }
        let mut st = self.lock();
        if !st.users.contains_key(&user_id) {
            return invalid(&format!("Invalid filter.user_id: [{user_id}]"));
        }
        if let Some(w) = &webhook_id
            && !st.webhooks.iter().any(|h| &h.id == w)
        {
            return invalid(&format!("Invalid webhook_id: [{w}]"));
        }
        if events::is_private(&event_type) {
            let authorised = st
                .tokens
                .values()
                .any(|t| matches!(&t.kind, TokenKind::Access { user_id: u } if *u == user_id));
            if !authorised || caller.as_ref().is_some_and(|c| *c != user_id) {
                return problem(
                    403,
                    "Forbidden",
                    "Private events require the filtered user to have authorized your app (OAuth user context).",
                );
            }
        }
        let now = now_millis();
        let sub = XaaSub {
            id: random_digits(19),
            event_type,
            user_id,
            webhook_id,
            tag,
            created_ms: now,
        };
        let body = sub_json(&sub);
        st.xaa_subs.push(sub);
        let total = st.xaa_subs.len();
        axum::Json(json!({"data": body, "meta": {"total_subscriptions": total}})).into_response()
    }

    fn xaa_list(&self, req: &Req) -> Response {
        if let Err(e) = self.authenticate(req) {
            return e;
        }
        let list: Vec<Value> = self.lock().xaa_subs.iter().map(sub_json).collect();
        let n = list.len();
        axum::Json(json!({"data": list, "meta": {"result_count": n}})).into_response()
    }

    fn xaa_delete(&self, req: &Req, id: &str) -> Response {
        if let Err(e) = self.authenticate(req) {
            return e;
        }
        let mut st = self.lock();
        let before = st.xaa_subs.len();
        st.xaa_subs.retain(|s| s.id != id);
        let deleted = st.xaa_subs.len() < before;
        if !deleted {
            return invalid(&format!("Subscription not found: [{id}]"));
        }
        axum::Json(json!({"data": {"deleted": true}})).into_response()
    }

    // ----- Account Activity API (legacy) ---------------------------------------------

    fn aaa_subscribe(&self, req: &Req, webhook_id: &str) -> Response {
        let user = match self.user_auth(req) {
            Ok(u) => u,
            Err(e) => return e,
        };
        let mut st = self.lock();
        match st.webhooks.iter().find(|w| w.id == webhook_id) {
            None => return invalid("Webhook not found"),
            Some(w) if !w.valid => {
                return problem(400, "Invalid Request", "Webhook is not valid (failed CRC).");
            }
            _ => {}
        }
        if !st
            .aaa_subs
            .iter()
            .any(|(w, u)| w == webhook_id && *u == user)
        {
            st.aaa_subs.push((webhook_id.to_owned(), user));
        }
        axum::Json(json!({"data": {"subscribed": true}})).into_response()
    }

    fn aaa_check(&self, req: &Req, webhook_id: &str) -> Response {
        let user = match self.user_auth(req) {
            Ok(u) => u,
            Err(e) => return e,
        };
        let on = self
            .lock()
            .aaa_subs
            .iter()
            .any(|(w, u)| w == webhook_id && *u == user);
        axum::Json(json!({"data": {"subscribed": on}})).into_response()
    }

    fn aaa_list(&self, req: &Req, webhook_id: &str) -> Response {
        if let Err(e) = self.app_auth(req) {
            return e;
        }
        let st = self.lock();
        let Some(hook) = st.webhooks.iter().find(|w| w.id == webhook_id) else {
            return invalid("Webhook not found");
        };
        let subs: Vec<Value> = st
            .aaa_subs
            .iter()
            .filter(|(w, _)| w == webhook_id)
            .map(|(_, u)| json!({"user_id": u}))
            .collect();
        axum::Json(json!({"data": {
            "application_id": self.app_id,
            "webhook_id": webhook_id,
            "webhook_url": hook.url,
            "subscriptions": subs,
        }}))
        .into_response()
    }

    fn aaa_delete(&self, req: &Req, webhook_id: &str, user_id: &str) -> Response {
        if let Err(e) = self.app_auth(req) {
            return e;
        }
        self.lock()
            .aaa_subs
            .retain(|(w, u)| !(w == webhook_id && u == user_id));
        axum::Json(json!({"data": {"subscribed": false}})).into_response()
    }

    // ----- posts ----------------------------------------------------------------------

    /// `POST /2/tweets` (X docs `x-api/posts/create-post`).
    fn create_tweet(&self, req: &Req) -> Response {
        let user = match self.user_auth(req) {
            Ok(u) => u,
            Err(e) => return e,
        };
        let j = req.json.clone().unwrap_or_default();
        let text = j["text"].as_str().unwrap_or_default().to_owned();
        let reply_to = j["reply"]["in_reply_to_tweet_id"]
            .as_str()
            .map(str::to_owned);
        let media_ids: Vec<String> = j["media"]["media_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .or(v.as_u64().map(|n| n.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if text.is_empty() && media_ids.is_empty() {
            return invalid("Post text or media is required.");
        }
        if rules::weighted_length(&text) > rules::POST_LIMIT {
            // v1.1 code 186 "Tweet needs to be a bit shorter."
            return problem(
                403,
                "Forbidden",
                "Your Tweet text is too long. For more information on how X determines text length see https://github.com/twitter/twitter-text.",
            );
        }
        {
            let st = self.lock();
            let brand = st.users.get(&user);
            if let Some(parent_id) = &reply_to {
                let Some(parent) = st.tweets.iter().find(|t| &t.id == parent_id) else {
                    return problem(
                        403,
                        "Forbidden",
                        "You attempted to reply to a Tweet that is deleted or not visible to you.",
                    );
                };
                // Self-serve plans: a reply only where the brand was "summoned" — the
                // post's author @mentioned it (a reply to the brand's post mentions it) or
                // the post is the brand's own. Message as reported by developers hitting
                // this 403 (X developer community, 2025-2026).
                let name = brand.map(|b| b.username.to_lowercase()).unwrap_or_default();
                let summoned = parent.author_id == user
                    || parent.in_reply_to_user.as_deref() == Some(user.as_str())
                    || rules::mentions(&parent.text)
                        .iter()
                        .any(|(_, _, h)| h.to_lowercase() == name);
                if !summoned {
                    return problem(
                        403,
                        "Forbidden",
                        "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to.",
                    );
                }
            }
            if let Err(e) = check_media(&st.media, &user, &media_ids, "tweet_") {
                return invalid(&e);
            }
            let kinds: Vec<&str> = media_ids
                .iter()
                .filter_map(|m| st.media.get(m))
                .map(|m| rules::key_prefix(&m.media_type).1)
                .collect();
            if kinds.len() > 4 || (kinds.len() > 1 && kinds.iter().any(|k| *k != "photo")) {
                return invalid("Your media IDs are invalid: 4 images, or 1 GIF, or 1 video.");
            }
            // Duplicate: the same text from the same account to the same target.
            let now = now_millis();
            if !text.is_empty()
                && st.tweets.iter().any(|t| {
                    t.author_id == user
                        && t.text == text
                        && t.in_reply_to == reply_to
                        && now - t.created_ms < 86_400_000
                })
            {
                // v1.1 code 187 "Status is a duplicate."
                return problem(
                    403,
                    "Forbidden",
                    "You are not allowed to create a Tweet with duplicate content.",
                );
            }
        }
        let tweet = self.insert_tweet(&user, &text, reply_to.as_deref(), media_ids);
        self.emit_tweet(&tweet);
        (
            StatusCode::CREATED,
            axum::Json(json!({"data": {
                "id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id],
            }})),
        )
            .into_response()
    }

    // ----- Direct Messages ------------------------------------------------------------

    /// Shared checks of both DM endpoints; `Err` carries (status, v1 code, message).
    fn send_dm(
        &self,
        sender: &str,
        recipient: &str,
        text: &str,
        media: &[String],
    ) -> Result<super::Dm, (u16, u32, String)> {
        {
            let st = self.lock();
            let Some(to) = st.users.get(recipient) else {
                return Err((400, 50, "User not found.".into()));
            };
            if recipient == sender {
                return Err((400, 214, "You cannot send messages to yourself.".into()));
            }
            if text.is_empty() && media.is_empty() {
                return Err((
                    400,
                    214,
                    "Message text or an attachment is required.".into(),
                ));
            }
            if text.chars().count() > rules::DM_LIMIT {
                return Err((
                    400,
                    354,
                    "The text of your direct message is over the max character limit.".into(),
                ));
            }
            if media.len() > 1 {
                return Err((
                    400,
                    214,
                    "Only one attachment is allowed per message.".into(),
                ));
            }
            // Open DMs, or the recipient wrote to the sender before.
            let wrote_before = st
                .dms
                .iter()
                .any(|d| d.sender_id == recipient && d.recipient_id == sender);
            if !to.accepts_dms && !wrote_before {
                return Err((403, 349, "You cannot send messages to this user.".into()));
            }
            check_media(&st.media, sender, media, "dm_").map_err(|e| (400, 324, e))?;
        }
        let dm = self.insert_dm(sender, recipient, text, media.first().cloned());
        self.emit_dm(&dm);
        Ok(dm)
    }

    /// `POST /2/dm_conversations/with/{participant_id}/messages`.
    fn send_dm_v2(&self, req: &Req, participant: &str) -> Response {
        let user = match self.user_auth(req) {
            Ok(u) => u,
            Err(e) => return e,
        };
        let j = req.json.clone().unwrap_or_default();
        let text = j["text"].as_str().unwrap_or_default();
        let media: Vec<String> = j["attachments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v["media_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        match self.send_dm(&user, participant, text, &media) {
            Ok(dm) => (
                StatusCode::CREATED,
                axum::Json(json!({"data": {
                    "dm_conversation_id": dm_conversation_id(&user, participant),
                    "dm_event_id": dm.id,
                }})),
            )
                .into_response(),
            Err((403, _, m)) => problem(403, "Forbidden", &m),
            Err((_, _, m)) => invalid(&m),
        }
    }

    /// `POST /1.1/direct_messages/events/new.json`.
    fn send_dm_v1(&self, req: &Req) -> Response {
        let user = match self.user_auth(req) {
            Ok(u) => u,
            Err(e) => return e,
        };
        let j = req.json.clone().unwrap_or_default();
        let mc = &j["event"]["message_create"];
        let recipient = mc["target"]["recipient_id"].as_str().unwrap_or_default();
        let text = mc["message_data"]["text"].as_str().unwrap_or_default();
        let media: Vec<String> = mc["message_data"]["attachment"]["media"]["id"]
            .as_str()
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default();
        match self.send_dm(&user, recipient, text, &media) {
            Ok(dm) => {
                let st = self.lock();
                axum::Json(json!({ "event": self.dm_event(&st, &dm) })).into_response()
            }
            Err((status, code, m)) => v1_error(status, code, &m),
        }
    }

    // ----- users ----------------------------------------------------------------------

    fn user_fields(req: &Req) -> Vec<String> {
        req.param("user.fields")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn user_me(&self, req: &Req) -> Response {
        let user = match self.user_auth(req) {
            Ok(u) => u,
            Err(e) => return e,
        };
        self.user_answer(req, &user)
    }

    fn user_get(&self, req: &Req, id: &str) -> Response {
        if let Err(e) = self.authenticate(req) {
            return e;
        }
        self.user_answer(req, id)
    }

    fn user_answer(&self, req: &Req, id: &str) -> Response {
        let fields = Self::user_fields(req);
        if let Some(bad) = fields.iter().find(|f| {
            !super::payloads::USER_FIELDS.contains(&f.as_str())
                && !["id", "name", "username"].contains(&f.as_str())
        }) {
            return invalid(&format!(
                "The `user.fields` query parameter value [{bad}] is not one of [{}]",
                super::payloads::USER_FIELDS.join(",")
            ));
        }
        let st = self.lock();
        match st.users.get(id) {
            Some(u) => axum::Json(json!({ "data": self.v2_user_counted(&st, u, Some(&fields)) }))
                .into_response(),
            None => axum::Json(json!({"errors": [{
                "value": id,
                "detail": format!("Could not find user with id: [{id}]."),
                "title": "Not Found Error",
                "resource_type": "user",
                "parameter": "id",
                "resource_id": id,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }]}))
            .into_response(),
        }
    }

    // ----- media upload ---------------------------------------------------------------

    /// Chunked media upload, v1.1 (`upload.twitter.com/1.1/media/upload.json`) and v2
    /// (`/2/media/upload` with `command`, and `/2/media/upload/initialize`,
    /// `/{id}/append`, `/{id}/finalize`). Shapes from X docs `x-api/media/quickstart/
    /// media-upload-chunked` (v2 INIT → `{"data":{"id","media_key","expires_after_secs"}}`)
    /// and the v1.1 FINALIZE reference (`processing_info` for GIF and video).
    fn media(&self, req: &Req, command: Option<&str>, id: Option<String>) -> Response {
        let user = match self.user_auth(req) {
            Ok(u) => u,
            Err(e) => return e,
        };
        let command = command
            .map(str::to_owned)
            .or_else(|| req.param("command"))
            .unwrap_or_default()
            .to_uppercase();
        let media_id = id.or_else(|| req.param("media_id")).unwrap_or_default();
        let file = req.file.clone().or_else(|| {
            req.param("media_data")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        });
        match command.as_str() {
            "INIT" => self.media_init(req, &user),
            "APPEND" => self.media_append(req, &user, &media_id, file),
            "FINALIZE" => self.media_finalize(req, &user, &media_id),
            "STATUS" => self.media_status(req, &user, &media_id),
            "" if file.is_some() => self.media_simple(req, &user, file.unwrap_or_default()),
            _ => err(
                req,
                400,
                38,
                "Invalid Request",
                "command parameter is missing or invalid.",
            ),
        }
    }

    fn media_answer(&self, req: &Req, m: &Media, extra: Value) -> Response {
        let mut v = if req.v1 {
            json!({
                "media_id": m.id.parse::<u64>().unwrap_or_default(),
                "media_id_string": m.id,
                "media_key": m.key(),
                "expires_after_secs": (m.created_ms + MEDIA_TTL_MS).saturating_sub(now_millis()) / 1000,
            })
        } else {
            json!({
                "id": m.id,
                "media_key": m.key(),
                "expires_after_secs": (m.created_ms + MEDIA_TTL_MS).saturating_sub(now_millis()) / 1000,
            })
        };
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        if req.v1 {
            axum::Json(v).into_response()
        } else {
            axum::Json(json!({ "data": v })).into_response()
        }
    }

    fn media_init(&self, req: &Req, user: &str) -> Response {
        let media_type = req.param("media_type").unwrap_or_default();
        let Some(total) = req.param("total_bytes").and_then(|t| t.parse::<u64>().ok()) else {
            return err(
                req,
                400,
                38,
                "Invalid Request",
                "total_bytes parameter is missing.",
            );
        };
        let Some(limit) = rules::size_limit(&media_type) else {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                &format!(
                    "Unsupported media_type: {media_type}. Use image/jpeg, image/png, image/gif, image/webp or video/mp4."
                ),
            );
        };
        let category = req.param("media_category").unwrap_or_else(|| {
            match rules::key_prefix(&media_type).1 {
                "animated_gif" => "tweet_gif",
                "video" => "tweet_video",
                _ => "tweet_image",
            }
            .to_owned()
        });
        if !rules::category_fits(&category, &media_type) {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                &format!("media_category {category} does not fit media_type {media_type}."),
            );
        }
        if total == 0 || total > limit {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                &format!("File size exceeds {limit} bytes."),
            );
        }
        let m = Media {
            id: random_digits(19),
            owner_id: user.to_owned(),
            media_type,
            category,
            total_bytes: total,
            segments: BTreeMap::new(),
            state: MediaState::Uploading,
            created_ms: now_millis(),
        };
        let res = self.media_answer(req, &m, json!({}));
        self.lock().media.insert(m.id.clone(), m);
        res
    }

    fn media_append(&self, req: &Req, user: &str, id: &str, file: Option<Vec<u8>>) -> Response {
        let Some(bytes) = file else {
            return err(
                req,
                400,
                38,
                "Invalid Request",
                "media parameter is missing.",
            );
        };
        let Some(index) = req
            .param("segment_index")
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return err(
                req,
                400,
                38,
                "Invalid Request",
                "segment_index parameter is missing.",
            );
        };
        let mut st = self.lock();
        let Some(m) = st.media.get_mut(id).filter(|m| m.owner_id == user) else {
            return err(req, 400, 324, "Invalid Request", "Invalid media_id.");
        };
        if m.state != MediaState::Uploading || index > 999 {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                "Segment index is invalid or the upload was finalized.",
            );
        }
        m.segments.insert(index, bytes);
        if m.size() > m.total_bytes {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                "Segments exceed the total_bytes given at INIT.",
            );
        }
        if req.v1 {
            StatusCode::NO_CONTENT.into_response()
        } else {
            let at = (m.created_ms + MEDIA_TTL_MS) / 1000;
            axum::Json(json!({"data": {"expires_at": at}})).into_response()
        }
    }

    fn media_finalize(&self, req: &Req, user: &str, id: &str) -> Response {
        let mut st = self.lock();
        let Some(m) = st.media.get_mut(id).filter(|m| m.owner_id == user) else {
            return err(req, 400, 324, "Invalid Request", "Invalid media_id.");
        };
        if m.state != MediaState::Uploading {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                "Upload already finalized.",
            );
        }
        if m.size() != m.total_bytes {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                "Segments do not add up to provided total file size.",
            );
        }
        let bytes = m.bytes();
        let sniffed = rules::sniff(&bytes);
        let fits = match sniffed {
            Some("video/mp4") => m.media_type.starts_with("video/"),
            Some(t) => t == m.media_type,
            None => false,
        };
        if !fits {
            m.state = MediaState::Failed("InvalidMedia".into());
            return err(
                req,
                400,
                324,
                "Invalid Request",
                "InvalidMedia: media type unrecognized or does not match media_type.",
            );
        }
        let async_processing = rules::key_prefix(&m.media_type).1 != "photo";
        let size = m.size();
        let extra = if async_processing {
            m.state = MediaState::Pending;
            json!({"size": size, "processing_info": {"state": "pending", "check_after_secs": 1}})
        } else {
            m.state = MediaState::Succeeded;
            json!({"size": size, "image": {"image_type": m.media_type, "w": 640, "h": 480}})
        };
        let m = m.clone();
        drop(st);
        self.media_answer(req, &m, extra)
    }

    fn media_status(&self, req: &Req, user: &str, id: &str) -> Response {
        let mut st = self.lock();
        let Some(m) = st.media.get_mut(id).filter(|m| m.owner_id == user) else {
            return err(req, 400, 324, "Invalid Request", "Invalid media_id.");
        };
        let info = match &m.state {
            MediaState::Pending => {
                m.state = MediaState::InProgress;
                json!({"state": "in_progress", "check_after_secs": 1, "progress_percent": 50})
            }
            MediaState::InProgress | MediaState::Succeeded => {
                m.state = MediaState::Succeeded;
                json!({"state": "succeeded", "progress_percent": 100})
            }
            MediaState::Failed(why) => {
                json!({"state": "failed", "progress_percent": 0, "error": {"code": 1, "name": why, "message": why}})
            }
            MediaState::Uploading => {
                return err(req, 400, 324, "Invalid Request", "Upload not finalized.");
            }
        };
        let m = m.clone();
        drop(st);
        self.media_answer(req, &m, json!({ "processing_info": info }))
    }

    /// One-shot upload (no `command`): the whole file in `media`.
    fn media_simple(&self, req: &Req, user: &str, bytes: Vec<u8>) -> Response {
        let Some(media_type) = rules::sniff(&bytes) else {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                "InvalidMedia: media type unrecognized.",
            );
        };
        let limit = rules::size_limit(media_type).unwrap_or(0);
        if bytes.len() as u64 > limit {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                &format!("File size exceeds {limit} bytes."),
            );
        }
        let category = req
            .param("media_category")
            .unwrap_or_else(|| "tweet_image".into());
        if !rules::category_fits(&category, media_type) {
            return err(
                req,
                400,
                324,
                "Invalid Request",
                &format!("media_category {category} does not fit {media_type}."),
            );
        }
        let m = Media {
            id: random_digits(19),
            owner_id: user.to_owned(),
            media_type: media_type.to_owned(),
            category,
            total_bytes: bytes.len() as u64,
            segments: BTreeMap::from([(0, bytes)]),
            state: MediaState::Succeeded,
            created_ms: now_millis(),
        };
        let res = self.media_answer(req, &m, json!({"size": m.total_bytes}));
        self.lock().media.insert(m.id.clone(), m);
        res
    }
}

/// Media may be attached only by its uploader, once processed, within 24 hours, and with
/// a category of the right kind (`tweet_*` for posts, `dm_*` for DMs).
fn check_media(
    all: &std::collections::HashMap<String, Media>,
    user: &str,
    ids: &[String],
    prefix: &str,
) -> Result<(), String> {
    for id in ids {
        let Some(m) = all.get(id) else {
            return Err(format!("Your media IDs are invalid: [{id}] not found."));
        };
        if m.owner_id != user {
            return Err(format!(
                "Your media IDs are invalid: [{id}] was uploaded by another account."
            ));
        }
        if now_millis() - m.created_ms > MEDIA_TTL_MS {
            return Err(format!("Your media IDs are invalid: [{id}] has expired."));
        }
        if m.state != MediaState::Succeeded {
            return Err(format!(
                "Your media IDs are invalid: [{id}] is not processed yet."
            ));
        }
        if !m.category.starts_with(prefix) {
            return Err(format!(
                "Your media IDs are invalid: [{id}] has media_category {}.",
                m.category
            ));
        }
    }
    Ok(())
}

fn webhook_json(w: &Webhook) -> Value {
    json!({"id": w.id, "url": w.url, "valid": w.valid, "created_at": iso(w.created_ms)})
}

fn sub_json(s: &XaaSub) -> Value {
    json!({
        "subscription_id": s.id,
        "event_type": s.event_type,
        "filter": {"user_id": s.user_id},
        "tag": s.tag,
        "webhook_id": s.webhook_id,
        "created_at": iso(s.created_ms),
        "updated_at": iso(s.created_ms),
    })
}

fn form_response(pairs: &[(&str, &str)]) -> Response {
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", oauth::encode(k), oauth::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    (
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

/// HTML-escapes text.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
