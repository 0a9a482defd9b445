//! The typed client of the server's internal API. Every failure comes back as the shared
//! `ApiError`, so pages match on its `code` and show its `message`.

use gloo_net::http::{Method, Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{
    CSRF_HEADER, ConversationInfo, Me, Meta, QueueItem, QueueView, SignIn, Transcript,
};
use shared::{ApiError, ErrorCode};
use std::cell::RefCell;

thread_local! {
    /// The session's CSRF token, learnt at sign-in or from `GET /api/session`.
    static CSRF: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub fn set_csrf(token: Option<String>) {
    CSRF.with(|c| *c.borrow_mut() = token);
}

fn network_error(e: gloo_net::Error) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        format!("cannot reach SocialConnect ({e}); check your connection and try again"),
    )
}

async fn decode<T: DeserializeOwned>(res: Response) -> Result<T, ApiError> {
    if res.ok() {
        return res.json::<T>().await.map_err(network_error);
    }
    let status = res.status();
    Err(res.json::<ApiError>().await.unwrap_or_else(|_| {
        ApiError::new(
            ErrorCode::Unknown,
            format!("the server answered {status} unexpectedly"),
        )
    }))
}

fn with_csrf(builder: RequestBuilder) -> RequestBuilder {
    match CSRF.with(|c| c.borrow().clone()) {
        Some(token) => builder.header(CSRF_HEADER, &token),
        None => builder,
    }
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let res = Request::get(path).send().await.map_err(network_error)?;
    decode(res).await
}

pub async fn send<B: Serialize, T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: &B,
) -> Result<T, ApiError> {
    let req = with_csrf(RequestBuilder::new(path).method(method))
        .json(body)
        .map_err(network_error)?;
    let res = req.send().await.map_err(network_error)?;
    decode(res).await
}

/// Who is signed in, `Ok(None)` when no one is.
pub async fn session() -> Result<Option<Me>, ApiError> {
    match get::<Me>("/api/session").await {
        Ok(me) => {
            set_csrf(Some(me.csrf_token.clone()));
            Ok(Some(me))
        }
        Err(e) if e.code == ErrorCode::Unauthenticated => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn sign_in(req: &SignIn) -> Result<Me, ApiError> {
    let me: Me = send(Method::POST, "/api/session", req).await?;
    set_csrf(Some(me.csrf_token.clone()));
    Ok(me)
}

pub async fn sign_out() -> Result<(), ApiError> {
    let res = with_csrf(Request::delete("/api/session"))
        .send()
        .await
        .map_err(network_error)?;
    set_csrf(None);
    if res.ok() {
        Ok(())
    } else {
        Err(decode::<()>(res).await.unwrap_err())
    }
}

pub async fn meta() -> Result<Meta, ApiError> {
    get("/api/meta").await
}

/// The queue in one view, latest activity first.
pub async fn queue(view: QueueView) -> Result<Vec<QueueItem>, ApiError> {
    get(&format!("/api/conversations?view={}", view.as_str())).await
}

pub async fn transcript(id: i64) -> Result<Transcript, ApiError> {
    get(&format!("/api/conversations/{id}")).await
}

/// Assigns the conversation to the signed-in agent.
pub async fn take(id: i64) -> Result<ConversationInfo, ApiError> {
    send(Method::POST, &format!("/api/conversations/{id}/take"), &()).await
}

pub async fn close(id: i64) -> Result<ConversationInfo, ApiError> {
    send(Method::POST, &format!("/api/conversations/{id}/close"), &()).await
}

pub async fn reply(
    conversation: i64,
    req: &shared::api::ReplyRequest,
) -> Result<shared::api::ReplyLine, ApiError> {
    send(
        Method::POST,
        &format!("/api/conversations/{conversation}/replies"),
        req,
    )
    .await
}
