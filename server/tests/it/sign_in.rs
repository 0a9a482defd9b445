//! Sign-in, sessions, CSRF and tenancy against a real server on loopback.

use crate::common;

use common::{ADMIN, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn sign_in(
    client: &reqwest::Client,
    url: &str,
    account: &str,
    email: &str,
    pw: &str,
) -> reqwest::Response {
    client
        .post(format!("{url}/api/session"))
        .json(&json!({"account_number": account, "email": email, "password": pw}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn bootstrap_admin_signs_in_and_out_with_csrf() {
    let server = TestServer::start(None).await;
    let client = TestServer::client();

    let res = client
        .get(format!("{}/api/session", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "unauthenticated"
    );

    let res = sign_in(&client, &server.url, ADMIN.0, ADMIN.1, ADMIN.2).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("sc_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["account"]["number"], ADMIN.0);
    assert_eq!(me["account"]["socialconnect_enabled"], true);
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    let again: Value = client
        .get(format!("{}/api/session", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["email"], ADMIN.1);

    // A state-changing request without the CSRF token is refused and changes nothing.
    let res = client
        .delete(format!("{}/api/session", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "csrf");
    let res = client
        .delete(format!("{}/api/session", server.url))
        .header("x-csrf-token", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client
        .get(format!("{}/api/session", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let res = client
        .delete(format!("{}/api/session", server.url))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = client
        .get(format!("{}/api/session", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn wrong_credentials_get_one_clear_error_and_guessing_is_rate_limited() {
    let server = TestServer::start(None).await;
    let client = TestServer::client();
    for (account, email, pw) in [
        (ADMIN.0, ADMIN.1, "wrong"),
        (ADMIN.0, "nobody@brand.example", ADMIN.2),
        ("9999", ADMIN.1, ADMIN.2),
        ("", ADMIN.1, ADMIN.2),
    ] {
        let res = sign_in(&client, &server.url, account, email, pw).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{account} {email}");
        assert!(res.headers().get("set-cookie").is_none());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "invalid_credentials");
        assert_eq!(body["message"], "wrong account number, email or password");
    }

    // The same account and email: ten failures, then refused even with the right password.
    for _ in 0..9 {
        sign_in(&client, &server.url, ADMIN.0, ADMIN.1, "wrong").await;
    }
    let res = sign_in(&client, &server.url, ADMIN.0, ADMIN.1, ADMIN.2).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "rate_limited");
    server.stop().await;
}

#[tokio::test]
async fn malformed_input_gets_the_shared_error_shape() {
    let server = TestServer::start(None).await;
    let client = TestServer::client();
    let res = client
        .post(format!("{}/api/session", server.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");
    assert!(body["message"].as_str().unwrap().len() > 3);

    // A form post from another site (no JSON content type) is not a sign-in.
    let res = client
        .post(format!("{}/api/session", server.url))
        .form(&[("email", ADMIN.1), ("password", ADMIN.2)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let res = client
        .post(format!("{}/api/session", server.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let res = client
        .get(format!("{}/api/nothing/here", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "not_found");
    server.stop().await;
}

#[tokio::test]
async fn sessions_survive_a_restart_on_the_same_data() {
    let server = TestServer::start(None).await;
    let client = reqwest::Client::new();
    let res = sign_in(&client, &server.url, ADMIN.0, ADMIN.1, ADMIN.2).await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    let data = server.stop().await;

    let again = TestServer::start_in(data, None).await;
    let res = client
        .get(format!("{}/api/session", again.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["email"], ADMIN.1);
    let res = client
        .get(format!("{}/api/session", again.url))
        .header("cookie", "sc_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    again.stop().await;
}

/// A client whose connections come from `ip` (any of 127.0.0.0/8 reaches the server on
/// loopback), so the server sees a client address of its own.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Throttling holds under parallel guessing: every attempt is counted before its
/// password is checked, so of 50 wrong passwords sent at once no more than the limit (10)
/// get an answer from the check; the rest, and then the right password, get 429 with
/// `Retry-After` until the window passes. Spraying other emails (from another address,
/// which its own limit stops at 100) resets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_get_no_more_than_the_limit_through() {
    let clock = server::automation::Clock::manual(1_700_000_000_000);
    let set = clock.clone();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), move |a| a.clock = set).await;
    let url = server.url.as_str();
    let guesser = client_from("127.0.0.1");
    let answers = futures_util::future::join_all(
        (0..50).map(|_| sign_in(&guesser, url, ADMIN.0, ADMIN.1, "wrong")),
    )
    .await;
    let mut checked = 0;
    for res in answers {
        match res.status() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let wait: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=300).contains(&wait), "{wait}");
                assert_eq!(res.json::<Value>().await.unwrap()["code"], "rate_limited");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        checked <= 10,
        "{checked} guesses reached the password check"
    );
    let right = || sign_in(&guesser, url, ADMIN.0, ADMIN.1, ADMIN.2);
    assert_eq!(right().await.status(), StatusCode::TOO_MANY_REQUESTS);

    // A spray of other emails from another address: its first 100 are checked (and
    // fail), then that address is refused too; the pair above stays blocked.
    let sprayer = client_from("127.0.0.2");
    let mut sprayed = Vec::new();
    for i in 0..200 {
        let email = format!("spray{i}@brand.example");
        sprayed.push(
            sign_in(&sprayer, url, ADMIN.0, &email, "wrong")
                .await
                .status(),
        );
    }
    assert!(
        sprayed[..100]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
    assert!(
        sprayed[100..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(right().await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Once the window has passed the right password signs in, and a success starts the
    // count again.
    clock.advance(std::time::Duration::from_secs(301));
    assert_eq!(right().await.status(), StatusCode::OK);
    assert_eq!(
        sign_in(&guesser, url, ADMIN.0, ADMIN.1, "wrong")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    server.stop().await;
}
