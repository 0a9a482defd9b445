//! Single sign-on against the sandbox's OpenID Connect provider, driven over HTTP as a
//! browser would (redirects followed by hand, cookies kept): an admin sets the provider up
//! in Home; a person of the account signs in through it; a replayed callback, a replayed
//! or forged ID token, an unverified or unknown email sign no one in; password sign-in
//! can be switched off.

use crate::common;

use common::world::start_server;
use common::{ADMIN, sandbox_calling_back};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A browser: cookies kept, redirects not followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("a redirect, got {}", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The hidden inputs of the provider's sign-in form.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=hidden ")
        .skip(1)
        .map(|rest| {
            let attr = |name: &str| {
                let start = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let end = start + rest[start..].find('"').unwrap();
                rest[start..end]
                    .replace("&amp;", "&")
                    .replace("&quot;", "\"")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

/// Starts single sign-on in `browser` and signs in at the provider as `email`: the
/// callback URL the provider sends the browser to.
async fn at_provider(browser: &reqwest::Client, base: &str, email: &str) -> String {
    let res = browser
        .get(format!("{base}/sso/start?account={}", ADMIN.0))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let authorize = location(&res);
    let page = browser.get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{authorize}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<label for=email>Email</label>"), "{html}");
    let mut form = hidden_fields(&html);
    form.push(("email".into(), email.into()));
    let res = browser.post(&authorize).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    location(&res)
}

/// Follows the provider's redirect back: where the server sends the browser then.
async fn back(browser: &reqwest::Client, callback: &str) -> String {
    let res = browser.get(callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{callback}");
    location(&res)
}

async fn signed_in_as(browser: &reqwest::Client, base: &str) -> Option<String> {
    let res = browser
        .get(format!("{base}/api/session"))
        .send()
        .await
        .unwrap();
    if res.status() != StatusCode::OK {
        return None;
    }
    let me: Value = res.json().await.unwrap();
    me["email"].as_str().map(str::to_owned)
}

fn refused_because(to: &str, why: &str) {
    let url = url::Url::parse(&format!("http://x{to}")).unwrap();
    assert_eq!(url.path(), "/login", "{to}");
    let error = url
        .query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    assert!(error.contains(why), "{why:?} in {error:?}");
}

#[tokio::test]
async fn people_sign_in_through_their_provider_and_forged_or_replayed_tokens_are_refused() {
    let (listener, _, sb) = sandbox_calling_back().await;
    let server = start_server(listener, tempfile::tempdir().unwrap(), &sb, false).await;
    let base = server.url.clone();
    let (admin, csrf) = common::world::sign_in(&base).await;
    let set = |body: Value| {
        admin
            .put(format!("{base}/api/home/sso"))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
    };
    let mut settings = json!({
        "issuer": sb.oidc.issuer(),
        "client_id": sb.oidc.client_id(),
        "client_secret": sb.oidc.client_secret(),
        "password_sign_in": true,
    });
    let mut nowhere = settings.clone();
    nowhere["issuer"] = json!("http://127.0.0.1:9/nowhere");
    assert_eq!(
        set(nowhere).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let res = set(settings.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let config: Value = res.json().await.unwrap();
    assert_eq!(config["configured"], true);
    assert_eq!(
        config["redirect_uri"],
        format!("{base}/oauth/oidc/callback")
    );
    assert!(!config.to_string().contains(sb.oidc.client_secret()));
    let offered: Value = reqwest::get(format!("{base}/api/sso?account={}", ADMIN.0))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(offered, json!({"sso": true, "password": true}));

    // Signed in through the provider, by verified email.
    let alice = browser();
    let callback = at_provider(&alice, &base, ADMIN.1).await;
    assert_eq!(back(&alice, &callback).await, "/workspace");
    assert_eq!(signed_in_as(&alice, &base).await.as_deref(), Some(ADMIN.1));

    // The same callback again, from this browser or another: refused.
    refused_because(
        &back(&alice, &callback).await,
        "not started in this browser",
    );
    let mallory = browser();
    refused_because(
        &back(&mallory, &callback).await,
        "not started in this browser",
    );
    // Its code with a flow of Mallory's own: the provider took that code already.
    let fresh = at_provider(&mallory, &base, "mallory@evil.example").await;
    let mut reused = url::Url::parse(&fresh).unwrap();
    let state = reused
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let old_code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    reused
        .query_pairs_mut()
        .clear()
        .append_pair("code", &old_code)
        .append_pair("state", &state);
    refused_because(&back(&mallory, reused.as_str()).await, "refused the code");
    assert_eq!(signed_in_as(&mallory, &base).await, None);

    // An earlier ID token handed back for a new sign-in: its nonce is not this one's.
    sb.oidc.replay_next();
    let eve = browser();
    let callback = at_provider(&eve, &base, ADMIN.1).await;
    refused_because(&back(&eve, &callback).await, "ID token is not valid");
    // An ID token signed by another key.
    sb.oidc.forge_next();
    let callback = at_provider(&eve, &base, ADMIN.1).await;
    refused_because(&back(&eve, &callback).await, "ID token is not valid");
    assert_eq!(signed_in_as(&eve, &base).await, None);

    // An email the provider has not verified, and one that is no person of the account.
    sb.oidc.set_unverified("unverified@brand.example");
    let callback = at_provider(&eve, &base, "unverified@brand.example").await;
    refused_because(&back(&eve, &callback).await, "not verified");
    let callback = at_provider(&eve, &base, "stranger@brand.example").await;
    refused_because(&back(&eve, &callback).await, "not an active person");
    assert_eq!(signed_in_as(&eve, &base).await, None);

    // Password sign-in switched off: the provider only.
    settings["password_sign_in"] = json!(false);
    settings["client_secret"] = Value::Null;
    assert_eq!(set(settings).await.unwrap().status(), StatusCode::OK);
    let res = browser()
        .post(format!("{base}/api/session"))
        .json(&json!({"account_number": ADMIN.0, "email": ADMIN.1, "password": ADMIN.2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let again = browser();
    let callback = at_provider(&again, &base, ADMIN.1).await;
    assert_eq!(back(&again, &callback).await, "/workspace");
    server.stop().await;
    sb.stop().await;
}
