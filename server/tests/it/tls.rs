//! HTTPS on the server's own listener (`SOCIALCONNECT_TLS_CERT`/`_KEY`): HTTP/2 by ALPN,
//! so an agent's event streams and requests share one connection, with HTTP/1.1 still
//! there for clients that ask for it.

use crate::common::{ADMIN, TestServer};
use reqwest::{StatusCode, Version};
use serde_json::json;

/// A certificate for `localhost` and `127.0.0.1`, its PEM files in `dir`.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (crt, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&crt, cert.cert.pem()).unwrap();
    std::fs::write(&key, cert.signing_key.serialize_pem()).unwrap();
    (crt, key, cert.cert.pem().into_bytes())
}

async fn https_server() -> (TestServer, Vec<u8>, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let (crt, key, pem) = certificate(files.path());
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |args| {
        args.tls.tls_cert = Some(crt);
        args.tls.tls_key = Some(key);
    })
    .await;
    (server, pem, files)
}

fn trusting(pem: &[u8]) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
        .cookie_store(true)
}

#[tokio::test]
async fn https_offers_http2_to_streams_and_requests_and_keeps_http1() {
    let (server, pem, _files) = https_server().await;
    assert!(server.url.starts_with("https://"), "{}", server.url);

    // Plain HTTP to the TLS port gets no answer a browser would take.
    let plain = server.url.replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err());

    let client = trusting(&pem).build().unwrap();
    let res = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_2);

    // Signed in, ten event streams open at once and a request still answers, all on
    // HTTP/2 (a browser's six connections per host would be used up over HTTP/1.1).
    let res = client
        .post(format!("{}/api/session", server.url))
        .json(&json!({"account_number": ADMIN.0, "email": ADMIN.1, "password": ADMIN.2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_2);
    // The session cookie a cross-site frame (the widget in LiveEngage) can keep with
    // third-party cookies blocked.
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=None",
        "Partitioned",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let csrf = res.json::<serde_json::Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut streams = Vec::new();
    for _ in 0..10 {
        let res = client
            .get(format!("{}/api/events", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.version(), Version::HTTP_2);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        streams.push(res);
    }
    let res = client
        .get(format!("{}/api/conversations?view=all", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_2);

    // A client that offers only HTTP/1.1 gets it.
    let old = trusting(&pem).http1_only().build().unwrap();
    let res = old
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_11);

    drop(streams);

    // With the cookie sent cross-site, the CSRF token is what a state change needs.
    let sign_out = format!("{}/api/session", server.url);
    let res = client.delete(&sign_out).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client
        .delete(&sign_out)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Only a cookie with the same attributes replaces a partitioned one.
    let removal = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        removal.contains("Partitioned") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_that_cannot_be_read_stops_the_start_with_its_name() {
    let files = tempfile::tempdir().unwrap();
    let missing = files.path().join("missing.pem");
    let mut args = server::config::ServeArgs::for_tests(files.path().join("data"));
    args.tls.tls_cert = Some(missing.clone());
    args.tls.tls_key = Some(missing.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = server::run(args, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains(&missing.display().to_string()),
        "{err:#}"
    );
}
