//! The typed client of the server's internal API. Every failure comes back as the shared
//! `ApiError`, so pages match on its `code` and show its `message`.

use gloo_net::http::{Method, Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{
    CSRF_HEADER, ConversationInfo, Me, Meta, QueueItem, QueueSort, QueueView, SignIn, Transcript,
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

/// The body of an answer, or the shared error it carries. Only [`parse`] depends on the
/// answer's type, so each call's own code stays small (the bundles' size).
async fn answer(res: Response) -> Result<String, ApiError> {
    let status = res.status();
    let ok = res.ok();
    let text = res.text().await.map_err(network_error)?;
    if ok {
        return Ok(text);
    }
    Err(serde_json::from_str::<ApiError>(&text).unwrap_or_else(|_| {
        ApiError::new(
            ErrorCode::Unknown,
            format!("the server answered {status} unexpectedly"),
        )
    }))
}

/// A request's body as JSON (the API's types always serialise).
pub fn json<B: Serialize>(body: &B) -> String {
    serde_json::to_string(body).unwrap_or_default()
}

/// An answer's body as `T`.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text)
        .map_err(|_| ApiError::new(ErrorCode::Unknown, "the server's answer could not be read"))
}

fn with_csrf(builder: RequestBuilder) -> RequestBuilder {
    match CSRF.with(|c| c.borrow().clone()) {
        Some(token) => builder.header(CSRF_HEADER, &token),
        None => builder,
    }
}

/// One request: a JSON `body` (with the CSRF token) or none; the answer's body, for
/// [`parse`]. Callers with several kinds of answer share this one request path.
pub async fn fetch(method: Method, path: &str, body: Option<String>) -> Result<String, ApiError> {
    let builder = RequestBuilder::new(path).method(method);
    let req = match body {
        Some(body) => with_csrf(builder)
            .header("Content-Type", "application/json")
            .body(body),
        None => builder.build(),
    }
    .map_err(network_error)?;
    let res = req.send().await.map_err(network_error)?;
    answer(res).await
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    parse(&fetch(Method::GET, path, None).await?)
}

pub async fn send<B: Serialize, T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: &B,
) -> Result<T, ApiError> {
    parse(&fetch(method, path, Some(json(body))).await?)
}

/// Who is signed in, `Ok(None)` when no one is. Whoever takes the answer takes its CSRF
/// token too ([`set_csrf`]): an answer overtaken by a sign-in carries a stale one.
pub async fn session() -> Result<Option<Me>, ApiError> {
    match get::<Me>("/api/session").await {
        Ok(me) => Ok(Some(me)),
        Err(e) if e.code == ErrorCode::Unauthenticated => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn sign_in(req: &SignIn) -> Result<Me, ApiError> {
    let me: Me = send(Method::POST, "/api/session", req).await?;
    set_csrf(Some(me.csrf_token.clone()));
    Ok(me)
}

/// Chooses a password through a one-time link's token; the answer signs the person in.
pub async fn set_password(req: &shared::api::SetPassword) -> Result<Me, ApiError> {
    let me: Me = send(Method::POST, "/api/password", req).await?;
    set_csrf(Some(me.csrf_token.clone()));
    Ok(me)
}

pub async fn sign_out() -> Result<(), ApiError> {
    let res = with_csrf(Request::delete("/api/session"))
        .send()
        .await
        .map_err(network_error)?;
    set_csrf(None);
    answer(res).await.map(drop)
}

pub async fn meta() -> Result<Meta, ApiError> {
    get("/api/meta").await
}

/// The queue in one view, latest activity first.
pub async fn queue(view: QueueView, sort: QueueSort) -> Result<Vec<QueueItem>, ApiError> {
    get(&format!(
        "/api/conversations?view={}&sort={}",
        view.as_str(),
        sort.as_str()
    ))
    .await
}

/// Tells the others who may see the conversation that the agent is typing in it.
pub async fn typing(id: i64) -> Result<(), ApiError> {
    let path = format!("/api/conversations/{id}/typing");
    fetch(Method::POST, &path, Some("{}".into()))
        .await
        .map(drop)
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

/// Routes the conversation to another skill and/or hands it to a named person.
pub async fn transfer(id: i64, to: &shared::api::Transfer) -> Result<ConversationInfo, ApiError> {
    send(
        Method::POST,
        &format!("/api/conversations/{id}/transfer"),
        to,
    )
    .await
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

/// `POST /api/uploads/from-url`: the server fetches and stores a public image.
pub async fn upload_from_url(url: &str) -> Result<shared::api::UploadInfo, ApiError> {
    send(
        Method::POST,
        "/api/uploads/from-url",
        &shared::api::UploadFromUrl {
            url: url.to_owned(),
        },
    )
    .await
}

fn js_error(_: wasm_bindgen::JsValue) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        "cannot reach SocialConnect; check your connection and try again",
    )
}

/// `POST /api/uploads` with the file as the body, through `XMLHttpRequest` so the page
/// can show how much has gone: `progress` gets the fraction sent (0.0–1.0).
pub async fn upload_file(
    file: &web_sys::File,
    progress: impl Fn(f64) + 'static,
) -> Result<shared::api::UploadInfo, ApiError> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    let xhr = web_sys::XmlHttpRequest::new().map_err(js_error)?;
    xhr.open("POST", "/api/uploads").map_err(js_error)?;
    xhr.set_request_header("Content-Type", &file.type_())
        .map_err(js_error)?;
    if let Some(token) = CSRF.with(|c| c.borrow().clone()) {
        xhr.set_request_header(CSRF_HEADER, &token)
            .map_err(js_error)?;
    }
    let on_progress =
        Closure::<dyn Fn(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
            if e.length_computable() && e.total() > 0.0 {
                progress(e.loaded() / e.total());
            }
        });
    xhr.upload()
        .map_err(js_error)?
        .set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    let target = xhr.clone();
    let finished = js_sys::Promise::new(&mut |resolve, _reject| {
        let done = Closure::once_into_js(move || {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        });
        target.set_onloadend(Some(done.unchecked_ref()));
    });
    xhr.send_with_opt_blob(Some(file)).map_err(js_error)?;
    let _ = wasm_bindgen_futures::JsFuture::from(finished).await;
    drop(on_progress);
    let status = xhr.status().map_err(js_error)?;
    let body = xhr.response_text().ok().flatten().unwrap_or_default();
    if status == 0 {
        return Err(js_error(wasm_bindgen::JsValue::NULL));
    }
    if (200..300).contains(&status) {
        serde_json::from_str(&body)
            .map_err(|_| ApiError::new(ErrorCode::Unknown, "the server's answer could not be read"))
    } else {
        Err(serde_json::from_str::<ApiError>(&body).unwrap_or_else(|_| {
            ApiError::new(
                ErrorCode::Unknown,
                format!("the server answered {status} unexpectedly"),
            )
        }))
    }
}
