//! Facebook Login's dialog: `GET {www}/dialog/oauth?client_id&redirect_uri&state&scope`
//! shows a sign-in page (pick a seeded user, choose the pages to grant); the form posts
//! back to the same path and redirects to `redirect_uri?code=..&state=..`, or with
//! `error=access_denied&error_reason=user_denied` when cancelled.

use super::{CodeRec, Facebook, esc};
use crate::common::random_alnum;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::collections::HashMap;

fn error_page(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><meta charset=utf-8><title>Facebook</title><h1>Sorry, something went wrong.</h1><p>{}</p>",
            esc(msg)
        )),
    )
        .into_response()
}

pub(crate) async fn dialog(
    State(fb): State<Facebook>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != fb.app_id() {
        return error_page("Invalid App ID: the client_id does not match a registered app.");
    }
    if url::Url::parse(get("redirect_uri")).is_err() {
        return error_page("URL blocked: the redirect_uri is missing or not a valid URL.");
    }
    let st = fb.lock();
    let mut users = String::new();
    for (i, u) in st.users.iter().enumerate() {
        let mut pages = String::new();
        for pid in &u.pages {
            if let Some(p) = st.page(pid) {
                pages.push_str(&format!(
                    "<li><label><input type=checkbox name=page value=\"{}\" checked> {}</label></li>",
                    esc(&p.id),
                    esc(&p.name)
                ));
            }
        }
        users.push_str(&format!(
            "<fieldset><legend><label><input type=radio name=user_id value=\"{}\"{}> {}</label></legend>\
             <p>Pages to allow the app to use:</p><ul>{pages}</ul></fieldset>",
            esc(&u.id),
            if i == 0 { " checked" } else { "" },
            esc(&u.name)
        ));
    }
    if st.users.is_empty() {
        users = "<p>No sandbox users yet.</p>".to_owned();
    }
    let hidden: String = ["client_id", "redirect_uri", "state", "scope"]
        .iter()
        .map(|k| format!("<input type=hidden name={k} value=\"{}\">", esc(get(k))))
        .collect();
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Log in with Facebook</title>\
         <h1>Log in with Facebook</h1>\
         <p>The app is requesting: <code>{scope}</code></p>\
         <form method=post>{hidden}{users}\
         <button type=submit name=action value=continue>Continue</button> \
         <button type=submit name=action value=cancel>Cancel</button></form></html>",
        scope = esc(get("scope")),
    ))
    .into_response()
}

pub(crate) async fn confirm(State(fb): State<Facebook>, body: Bytes) -> Response {
    let mut one: HashMap<String, String> = HashMap::new();
    let mut pages = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        if k == "page" {
            pages.push(v.into_owned());
        } else {
            one.insert(k.into_owned(), v.into_owned());
        }
    }
    let get = |k: &str| one.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != fb.app_id() {
        return error_page("Invalid App ID: the client_id does not match a registered app.");
    }
    let Ok(mut target) = url::Url::parse(get("redirect_uri")) else {
        return error_page("URL blocked: the redirect_uri is missing or not a valid URL.");
    };
    if get("action") == "cancel" {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_code", "200")
            .append_pair("error_description", "Permissions error")
            .append_pair("error_reason", "user_denied")
            .append_pair("state", get("state"));
    } else {
        let mut st = fb.lock();
        let Some(user) = st.users.iter().find(|u| u.id == get("user_id")).cloned() else {
            return error_page("Choose a user to continue as.");
        };
        let mut granted: Vec<String> = pages
            .into_iter()
            .filter(|p| user.pages.contains(p))
            .collect();
        if granted.is_empty() {
            granted = user.pages.clone();
        }
        let code = random_alnum(120);
        st.codes.insert(
            code.clone(),
            CodeRec {
                user_id: user.id,
                pages: granted,
                redirect_uri: get("redirect_uri").to_owned(),
                used: false,
            },
        );
        target
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", get("state"));
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}
