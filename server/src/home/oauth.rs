//! The networks' sign-in flows as SocialConnect Home runs them: Facebook Login (OAuth 2.0
//! code flow: code → user token → long-lived token → the pages the user manages) and X's
//! OAuth 1.0a three-legged flow (request token → authorize → access token). Tokens pass
//! through here on their way to being sealed; none is ever logged.

use crate::config::{FacebookArgs, TwitterArgs};
use crate::connectors::NetworkError;
use crate::connectors::facebook::{appsecret_proof, graph_error};
use crate::connectors::twitter::{OAuth1, x_error};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The permissions the app asks a page admin for (Meta's Messenger Platform and Pages API
/// docs: list pages, message, subscribe webhooks, read and answer posts and comments).
pub const FACEBOOK_SCOPE: &str = "pages_show_list,pages_messaging,pages_manage_metadata,\
pages_read_engagement,pages_manage_engagement";

/// A page the admin manages, with its page token (sealed before it is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPage {
    pub id: String,
    /// The display name.
    pub name: String,
    /// The page's username, when it has one (the `m.me` link needs it).
    pub username: Option<String>,
    pub access_token: String,
}

impl ManagedPage {
    /// The name stored for the page: its username when it has one (the `m.me/<username>`
    /// link agents send), else its display name.
    pub fn stored_name(&self) -> &str {
        self.username
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or(&self.name)
    }
}

/// `{www}/dialog/oauth?client_id&redirect_uri&state&scope&response_type=code`.
pub fn facebook_dialog_url(
    facebook: &FacebookArgs,
    app_id: &str,
    redirect_uri: &str,
    state: &str,
) -> String {
    let mut url = format!(
        "{}/dialog/oauth",
        facebook.facebook_www_url.trim_end_matches('/')
    );
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", app_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("scope", FACEBOOK_SCOPE)
        .append_pair("response_type", "code")
        .finish();
    url.push('?');
    url.push_str(&query);
    url
}

fn fb_transport(e: reqwest::Error) -> NetworkError {
    NetworkError {
        network: "Facebook",
        status: 0,
        code: None,
        // Without the URL: its query carries the code, the secret or a token.
        message: format!("could not reach the Graph API: {}", e.without_url()),
    }
}

async fn graph_get(
    http: &reqwest::Client,
    url: String,
    query: &[(&str, &str)],
) -> Result<Value, NetworkError> {
    let res = http
        .get(url)
        .query(query)
        .send()
        .await
        .map_err(fb_transport)?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(graph_error(status, &body))
    }
}

fn token_of(body: &Value) -> Result<String, NetworkError> {
    body.get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| NetworkError {
            network: "Facebook",
            status: 200,
            code: None,
            message: "the Graph API returned no access token".into(),
        })
}

/// Code → short-lived user token → long-lived user token → the pages it manages.
pub async fn facebook_pages(
    http: &reqwest::Client,
    facebook: &FacebookArgs,
    app_id: &str,
    app_secret: &str,
    redirect_uri: &str,
    code: &str,
) -> Result<Vec<ManagedPage>, NetworkError> {
    let base = facebook.facebook_graph_url.trim_end_matches('/');
    let token_url = format!("{base}/oauth/access_token");
    let short = token_of(
        &graph_get(
            http,
            token_url.clone(),
            &[
                ("client_id", app_id),
                ("redirect_uri", redirect_uri),
                ("client_secret", app_secret),
                ("code", code),
            ],
        )
        .await?,
    )?;
    let long = token_of(
        &graph_get(
            http,
            token_url,
            &[
                ("grant_type", "fb_exchange_token"),
                ("client_id", app_id),
                ("client_secret", app_secret),
                ("fb_exchange_token", &short),
            ],
        )
        .await?,
    )?;
    let proof = appsecret_proof(app_secret, &long);
    let mut pages = Vec::new();
    let mut next: Option<String> = None;
    // A page of results at a time; an admin with more pages than this is not our user.
    for _ in 0..20 {
        let body = match next.take() {
            Some(url) => graph_get(http, url, &[]).await?,
            None => {
                graph_get(
                    http,
                    format!("{base}/me/accounts"),
                    &[
                        ("fields", "id,name,username,access_token,tasks"),
                        ("access_token", &long),
                        ("appsecret_proof", &proof),
                    ],
                )
                .await?
            }
        };
        pages.extend(parse_pages(&body));
        next = body
            .pointer("/paging/next")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    Ok(pages)
}

/// The pages of a `/me/accounts` answer that came with a page token.
pub fn parse_pages(body: &Value) -> Vec<ManagedPage> {
    body.get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(ManagedPage {
                id: s("id").filter(|i| !i.is_empty())?,
                name: s("name").unwrap_or_default(),
                username: s("username"),
                access_token: s("access_token").filter(|t| !t.is_empty())?,
            })
        })
        .collect()
}

fn x_transport(e: reqwest::Error) -> NetworkError {
    NetworkError {
        network: "X",
        status: 0,
        code: None,
        message: format!("could not reach the X API: {}", e.without_url()),
    }
}

/// A form-encoded OAuth answer (`oauth_token=..&oauth_token_secret=..`).
async fn form_answer(res: reqwest::Response) -> Result<Vec<(String, String)>, NetworkError> {
    let status = res.status().as_u16();
    let text = res.text().await.map_err(x_transport)?;
    if !(200..300).contains(&status) {
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        return Err(x_error(status, &body));
    }
    Ok(url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect())
}

fn field(pairs: &[(String, String)], name: &str) -> Result<String, NetworkError> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| NetworkError {
            network: "X",
            status: 200,
            code: None,
            message: format!("the answer lacked {name}"),
        })
}

/// `POST /oauth/request_token` with our callback: `(request token, its secret)`.
pub async fn twitter_request_token(
    http: &reqwest::Client,
    twitter: &TwitterArgs,
    consumer_key: &str,
    consumer_secret: &str,
    callback: &str,
) -> Result<(String, String), NetworkError> {
    let url = format!(
        "{}/oauth/request_token?oauth_callback={}",
        twitter.twitter_api_url.trim_end_matches('/'),
        crate::connectors::twitter::encode(callback)
    );
    let signer = OAuth1 {
        consumer_key,
        consumer_secret,
        token: "",
        token_secret: "",
    };
    let res = http
        .post(&url)
        .header("authorization", signer.header("POST", &url, &[]))
        .send()
        .await
        .map_err(x_transport)?;
    let pairs = form_answer(res).await?;
    if field(&pairs, "oauth_callback_confirmed").as_deref() != Ok("true") {
        return Err(NetworkError {
            network: "X",
            status: 200,
            code: None,
            message: "X did not confirm the callback URL".into(),
        });
    }
    Ok((
        field(&pairs, "oauth_token")?,
        field(&pairs, "oauth_token_secret")?,
    ))
}

/// Where the admin authorises the app: `{api}/oauth/authorize?oauth_token=`.
pub fn twitter_authorize_url(twitter: &TwitterArgs, request_token: &str) -> String {
    format!(
        "{}/oauth/authorize?oauth_token={}",
        twitter.twitter_api_url.trim_end_matches('/'),
        crate::connectors::twitter::encode(request_token)
    )
}

/// The account's access token pair from X's `POST /oauth/access_token`.
pub struct TwitterGrant {
    pub token: String,
    pub token_secret: String,
    pub user_id: String,
    pub screen_name: String,
}

/// `POST /oauth/access_token` with the request token and the verifier X handed back.
pub async fn twitter_access_token(
    http: &reqwest::Client,
    twitter: &TwitterArgs,
    signer: OAuth1<'_>,
    verifier: &str,
) -> Result<TwitterGrant, NetworkError> {
    let url = format!(
        "{}/oauth/access_token?oauth_verifier={}",
        twitter.twitter_api_url.trim_end_matches('/'),
        crate::connectors::twitter::encode(verifier)
    );
    let res = http
        .post(&url)
        .header("authorization", signer.header("POST", &url, &[]))
        .send()
        .await
        .map_err(x_transport)?;
    let pairs = form_answer(res).await?;
    Ok(TwitterGrant {
        token: field(&pairs, "oauth_token")?,
        token_secret: field(&pairs, "oauth_token_secret")?,
        user_id: field(&pairs, "user_id")?,
        screen_name: field(&pairs, "screen_name")?,
    })
}

/// `DELETE /{page-id}/subscribed_apps`: the page stops sending this app its webhooks.
pub async fn facebook_unsubscribe(
    http: &reqwest::Client,
    facebook: &FacebookArgs,
    app_secret: &str,
    page_id: &str,
    page_token: &str,
) -> Result<(), NetworkError> {
    let url = format!(
        "{}/{page_id}/subscribed_apps",
        facebook.facebook_graph_url.trim_end_matches('/')
    );
    let res = http
        .delete(url)
        .query(&[
            ("access_token", page_token),
            ("appsecret_proof", &appsecret_proof(app_secret, page_token)),
        ])
        .send()
        .await
        .map_err(fb_transport)?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(graph_error(status, &body))
    }
}

/// Ends the account's X Activity API subscriptions (`GET /2/activity/subscriptions`, then
/// `DELETE /2/activity/subscriptions/:id` for each filtered on it); returns how many.
pub async fn twitter_unsubscribe(
    http: &reqwest::Client,
    twitter: &TwitterArgs,
    user: OAuth1<'_>,
    user_id: &str,
) -> Result<usize, NetworkError> {
    let base = twitter.twitter_api_url.trim_end_matches('/');
    let list_url = format!("{base}/2/activity/subscriptions");
    let res = http
        .get(&list_url)
        .header("authorization", user.header("GET", &list_url, &[]))
        .send()
        .await
        .map_err(x_transport)?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        return Err(x_error(status, &body));
    }
    let ids: Vec<String> = body
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.pointer("/filter/user_id").and_then(Value::as_str) == Some(user_id))
        .filter_map(|s| s.get("subscription_id").or_else(|| s.get("id")))
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    for id in &ids {
        let url = format!("{list_url}/{}", crate::connectors::twitter::encode(id));
        let res = http
            .delete(&url)
            .header("authorization", user.header("DELETE", &url, &[]))
            .send()
            .await
            .map_err(x_transport)?;
        let status = res.status().as_u16();
        if !(200..300).contains(&status) {
            let body: Value = res.json().await.unwrap_or(Value::Null);
            return Err(x_error(status, &body));
        }
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_dialog_url_carries_state_and_the_exact_redirect() {
        let mut fb = crate::config::ServeArgs::for_tests("/tmp".into()).facebook;
        fb.facebook_www_url = "https://www.facebook.com/v24.0/".into();
        let url = facebook_dialog_url(&fb, "app 1", "http://h/oauth/facebook/callback", "s&t");
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/v24.0/dialog/oauth");
        let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "app 1");
        assert_eq!(q["redirect_uri"], "http://h/oauth/facebook/callback");
        assert_eq!(q["state"], "s&t");
        assert_eq!(q["response_type"], "code");
        assert!(q["scope"].contains("pages_messaging"));
    }

    #[test]
    fn pages_without_a_token_or_id_are_left_out() {
        let body = json!({"data": [
            {"id": "1", "name": "One", "username": "one", "access_token": "t1"},
            {"id": "2", "name": "No token"},
            {"name": "No id", "access_token": "t3"},
            {"id": "4", "name": "Four", "access_token": "t4"},
        ]});
        let pages = parse_pages(&body);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].stored_name(), "one");
        assert_eq!(pages[1].stored_name(), "Four");
    }
}
