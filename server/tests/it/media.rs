//! Inbound media end to end against the sandbox networks: pictures, a GIF and a video on
//! Messenger and a picture in an X Direct Message arrive; the fetcher copies them; export
//! shows their checked type and size; the brand's people get them (with byte ranges),
//! everyone else does not.

use crate::common;

use common::{ADMIN, TestServer};
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_TYPE, RANGE, X_CONTENT_TYPE_OPTIONS,
};
use sandbox::Sandbox;
use sandbox::facebook::MediaKind;
use sandbox::twitter::MediaFile;
use serde_json::{Value, json};
use server::store::SqliteStore;
use server::store::prelude::*;
use shared::Role;
use shared::api::{LineMedia, Transcript};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A sandbox and a server pointed at each other, both networks configured.
async fn pair() -> (Sandbox, TestServer) {
    let (listener, _, sb) = common::sandbox_calling_back().await;
    let media_hosts = sb.media_http_hosts();
    let c = sb.credentials.clone();
    let (graph, www) = (sb.facebook.graph_url(), sb.facebook.www_url());
    let (api, upload) = (sb.twitter.api_url(), sb.twitter.upload_url());
    let server = TestServer::start_on(listener, tempfile::tempdir().unwrap(), move |a| {
        a.facebook.facebook_app_id = Some(c.facebook_app_id.clone());
        a.facebook.facebook_app_secret = Some(c.facebook_app_secret.clone());
        a.facebook.facebook_verify_token = Some(c.facebook_verify_token.clone());
        a.facebook.facebook_graph_url = graph;
        a.facebook.facebook_www_url = www;
        a.twitter.twitter_consumer_key = Some(c.twitter_consumer_key.clone());
        a.twitter.twitter_consumer_secret = Some(c.twitter_consumer_secret.clone());
        a.twitter.twitter_api_url = api;
        a.twitter.twitter_upload_url = upload;
        a.media_http_hosts = media_hosts.parse().unwrap();
    })
    .await;
    (sb, server)
}

/// `socialconnect link …` against the sandbox, for the bootstrap brand.
async fn link(sb: &Sandbox, server: &TestServer, args: &[&str]) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(args)
        .env("SOCIALCONNECT_DATA_DIR", server.data_dir.path())
        .env("SOCIALCONNECT_PUBLIC_URL", &server.url)
        .envs(sb.settings().iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn sign_in(server: &TestServer, account: &str, email: &str) -> reqwest::Client {
    let http = TestServer::client();
    let res = http
        .post(format!("{}/api/session", server.url))
        .json(&json!({"account_number": account, "email": email, "password": "pass-word-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "signing in {email}");
    http
}

/// Every media line of every conversation of the brand, once all `n` are copied.
async fn media_when_copied(
    store: &SqliteStore,
    account_id: i64,
    n: usize,
) -> Vec<serde_json::Map<String, Value>> {
    // Past the first retry (30 s), so one failed download does not fail the test.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(75);
    loop {
        let media: Vec<_> = store
            .export(account_id, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .flat_map(|c| c["messages"].as_array().unwrap().clone())
            .flat_map(|m| m["media"].as_array().unwrap().clone())
            .map(|m| m.as_object().unwrap().clone())
            .collect();
        let copied = media.iter().filter(|m| m["bytes"].is_number()).count();
        if copied >= n {
            return media;
        }
        if tokio::time::Instant::now() > deadline {
            let mut records = Vec::new();
            for id in 1..=i64::try_from(media.len()).unwrap() {
                records.push(store.media_record(id).await.unwrap());
            }
            panic!("copied {copied} of {n}: {records:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn inbound_media_is_copied_checked_and_served_to_the_brands_people() {
    let (sb, server) = pair().await;
    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
    link(
        &sb,
        &server,
        &[
            "link",
            "facebook",
            "--account",
            ADMIN.0,
            "--page-id",
            &page.id,
            "--page-name",
            &page.username,
            "--page-token",
            &page.access_token,
        ],
    )
    .await;
    link(
        &sb,
        &server,
        &[
            "link",
            "twitter",
            "--account",
            ADMIN.0,
            "--user-id",
            &brand.id,
            "--screen-name",
            &brand.screen_name,
            "--token",
            &brand.access_token,
            "--token-secret",
            &brand.access_token_secret,
        ],
    )
    .await;

    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let other = store
        .ensure_account("7777", "Other brand", true)
        .await
        .unwrap();
    for (account_id, email, role) in [
        (Some(account.id), "agent@brand.example", Role::Agent),
        (Some(other.id), "agent@other.example", Role::Agent),
        (None, "support@sc.example", Role::Support),
    ] {
        server::auth::create_user(&store, account_id, email, email, role, "pass-word-1")
            .await
            .unwrap()
            .unwrap();
    }

    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook.consumer_message(
        &page,
        &ann,
        "the tent, the zip, the video",
        &[MediaKind::Image, MediaKind::Gif, MediaKind::Video],
    );
    let (png_mime, png) = MediaKind::Image.generate();
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    sb.twitter
        .consumer_dm(
            &bo,
            &brand.id,
            "my receipt",
            Some(MediaFile {
                mime: png_mime.to_owned(),
                bytes: png.clone(),
            }),
        )
        .unwrap();

    // Export shows the checked type and size of every copy.
    let exported = media_when_copied(&store, account.id, 4).await;
    let summary: Vec<(String, String, i64)> = exported
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_owned(),
                m["mime"].as_str().unwrap().to_owned(),
                m["bytes"].as_i64().unwrap(),
            )
        })
        .collect();
    let size = |k: MediaKind| i64::try_from(k.generate().1.len()).unwrap();
    for expected in [
        ("image", "image/png", size(MediaKind::Image)),
        ("gif", "image/gif", size(MediaKind::Gif)),
        ("video", "video/mp4", size(MediaKind::Video)),
    ] {
        let expected = (expected.0.to_owned(), expected.1.to_owned(), expected.2);
        assert!(summary.contains(&expected), "{expected:?} in {summary:?}");
    }
    assert_eq!(
        summary
            .iter()
            .filter(|(k, m, _)| k == "image" && m == "image/png")
            .count(),
        2,
        "the Messenger picture and the DM picture: {summary:?}"
    );

    // The transcript points at our copies.
    let agent = sign_in(&server, ADMIN.0, "agent@brand.example").await;
    let queue: Vec<Value> = agent
        .get(format!("{}/api/conversations?view=all", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queue.len(), 2, "{queue:#?}");
    let mut media: Vec<LineMedia> = Vec::new();
    for c in &queue {
        let t: Transcript = agent
            .get(format!("{}/api/conversations/{}", server.url, c["id"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        media.extend(t.lines.into_iter().flat_map(|l| l.media));
    }
    assert_eq!(media.len(), 4, "{media:#?}");
    for m in &media {
        let url = m.url.as_deref().unwrap();
        assert!(url.starts_with("/media/"), "{m:?}");
        assert!(m.bytes.is_some() && m.mime.is_some(), "{m:?}");
    }
    let of_kind = |k: shared::inbound::MediaKind| media.iter().find(|m| m.kind == k).unwrap();
    let gif = of_kind(shared::inbound::MediaKind::Gif);
    let video = of_kind(shared::inbound::MediaKind::Video);
    let image = of_kind(shared::inbound::MediaKind::Image);
    assert!(
        gif.still_url.is_some() && gif.thumbnail_url.is_some(),
        "{gif:?}"
    );
    assert!(image.thumbnail_url.is_some() && image.still_url.is_none());
    assert!(video.thumbnail_url.is_none() && video.still_url.is_none());

    // The original, with its checked type, to the brand's agent.
    let get = |http: &reqwest::Client, path: &str| http.get(format!("{}{path}", server.url));
    let res = get(&agent, image.url.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h[CONTENT_TYPE], "image/png");
    assert_eq!(h[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[CONTENT_DISPOSITION], "inline");
    assert!(
        h[CACHE_CONTROL].to_str().unwrap().contains("private"),
        "{h:?}"
    );
    assert_eq!(res.bytes().await.unwrap(), png);

    let res = get(&agent, video.url.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[CONTENT_TYPE], "video/mp4");
    assert_eq!(res.bytes().await.unwrap(), MediaKind::Video.generate().1);

    // The GIF's still is a PNG; the thumbnail an image.
    let res = get(&agent, gif.still_url.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "image/png");
    assert!(res.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let res = get(&agent, image.thumbnail_url.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("image/")
    );

    // Byte ranges: one satisfiable, one not.
    let total = video.bytes.unwrap();
    let res = get(&agent, video.url.as_deref().unwrap())
        .header(RANGE, "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], format!("bytes 0-9/{total}"));
    assert_eq!(res.headers()[CONTENT_TYPE], "video/mp4");
    assert_eq!(
        res.bytes().await.unwrap(),
        MediaKind::Video.generate().1[..10]
    );
    let res = get(&agent, video.url.as_deref().unwrap())
        .header(RANGE, format!("bytes={}-", total + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Nobody else gets them.
    let other = sign_in(&server, "7777", "agent@other.example").await;
    let support = sign_in(&server, "", "support@sc.example").await;
    let anonymous = reqwest::Client::new();
    for path in [
        image.url.as_deref().unwrap(),
        gif.still_url.as_deref().unwrap(),
    ] {
        let status = |http: &reqwest::Client| get(http, path).send();
        assert_eq!(
            status(&other).await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
        assert_eq!(
            status(&support).await.unwrap().status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            status(&anonymous).await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    for path in ["/media/999999", "/media/abc", "/media/1/other"] {
        assert_eq!(
            get(&agent, path).send().await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // The copies live under the data dir's media folder.
    assert!(server.data_dir.path().join("media").is_dir());

    server.stop().await;
    sb.stop().await;
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A few hundred bytes of PNG claiming 100,000×100,000 pixels.
fn png_bomb() -> Vec<u8> {
    let mut ihdr = 100_000u32.to_be_bytes().to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", ihdr),
        (
            b"IDAT",
            vec![0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        ),
        (b"IEND", vec![]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend(&data);
        out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
        out.extend(&chunk);
        out.extend(crc32(&chunk).to_be_bytes());
    }
    out
}

#[tokio::test]
async fn bad_bytes_are_refused_and_failing_downloads_retried() {
    use axum::http::StatusCode as S;
    use axum::routing::get;
    use hmac::{Hmac, Mac};

    // A network serving a decompression bomb, a truncated GIF, a PDF where a picture
    // should be, a picture that is gone and one whose host is failing.
    let (_, gif) = MediaKind::Gif.generate();
    let (_, pdf) = MediaKind::File.generate();
    let cut = gif[..gif.len() / 2].to_vec();
    let network = axum::Router::new()
        .route("/bomb.png", get(move || async move { png_bomb() }))
        .route("/cut.gif", get(move || async move { cut }))
        .route("/doc.png", get(move || async move { pdf }))
        .route("/gone.jpg", get(|| async { S::NOT_FOUND }))
        .route("/flaky.jpg", get(|| async { S::SERVICE_UNAVAILABLE }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let net = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, network).await });

    const SECRET: &str = "fb-app-secret";
    const PAGE: &str = "1122334455";
    let named = net.trim_start_matches("http://").to_owned();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| {
        a.facebook.facebook_app_id = Some("app".into());
        a.facebook.facebook_app_secret = Some(SECRET.into());
        a.facebook.facebook_verify_token = Some("verify".into());
        // This test's network serves its media over http on loopback.
        a.media_http_hosts = named.parse().unwrap();
    })
    .await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    store
        .link(server::store::NewLink {
            account_id: account.id,
            channel: shared::Channel::Facebook,
            network_id: PAGE,
            name: "page",
            token_sealed: vec![1],
            token_secret_sealed: None,
            skill_id: None,
            created_by: "test",
        })
        .await
        .unwrap();
    let files = ["bomb.png", "cut.gif", "doc.png", "gone.jpg", "flaky.jpg"];
    let attachments: Vec<Value> = files
        .iter()
        .map(|f| json!({"type": "image", "payload": {"url": format!("{net}/{f}")}}))
        .collect();
    let ts = 1_700_000_001_000i64;
    let raw = json!({"object":"page","entry":[{"id":PAGE,"time":ts,"messaging":[{
        "sender":{"id":"2001"},"recipient":{"id":PAGE},"timestamp":ts,
        "message":{"mid":"m1","text":"look","attachments":attachments}}]}]})
    .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(raw.as_bytes());
    let res = reqwest::Client::new()
        .post(format!("{}/webhooks/facebook", server.url))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Media ids follow the attachments' order in a fresh database.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let records = loop {
        let mut records = Vec::new();
        for id in 1..=5 {
            records.push(store.media_record(id).await.unwrap().unwrap());
        }
        if records.iter().all(|r| r.attempts > 0) {
            break records;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never tried: {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    use server::store::MediaStatus::*;
    let status: Vec<_> = records.iter().map(|r| r.status).collect();
    assert_eq!(
        status,
        [Rejected, Rejected, Rejected, Failed, Pending],
        "{records:#?}"
    );
    let reason = |i: usize| records[i].error.clone().unwrap_or_default();
    assert!(reason(0).contains("100000×100000"), "{}", reason(0));
    assert!(reason(1).contains("Gif"), "truncated: {}", reason(1));
    assert!(reason(2).contains("application/pdf"), "{}", reason(2));
    assert!(reason(3).contains("404"), "{}", reason(3));
    assert!(reason(4).contains("503"), "{}", reason(4));
    assert_eq!(records[4].attempts, 1, "tried again later, not at once");
    assert!(records.iter().all(|r| r.stored_path.is_none()));
    // Nothing refused is left on disk.
    let left: Vec<_> = std::fs::read_dir(server.data_dir.path().join("media"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The transcript offers no link to refused bytes, and the network's for the others.
    let conversation = store
        .queue(
            server::store::QueueScope {
                account_id: account.id,
                user_id: 0,
                by_skills: false,
            },
            shared::api::QueueView::All,
        )
        .await
        .unwrap()[0]
        .id;
    let t = store.transcript(conversation).await.unwrap().unwrap();
    let urls: Vec<Option<String>> = t.lines[0].media.iter().map(|m| m.url.clone()).collect();
    assert_eq!(urls[..3], [None, None, None]);
    assert_eq!(
        urls[4].as_deref(),
        Some(format!("{net}/flaky.jpg").as_str())
    );
    server.stop().await;
}

const PAGE_ID: &str = "1122334455";
const APP_SECRET: &str = "fb-app-secret";

/// A server with Facebook configured and a page linked, whose media may come over http
/// only from `named` (`--media-http-hosts`).
async fn server_with_page(named: &str) -> (TestServer, SqliteStore, i64) {
    let named = named.to_owned();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), move |a| {
        a.facebook.facebook_app_id = Some("app".into());
        a.facebook.facebook_app_secret = Some(APP_SECRET.into());
        a.facebook.facebook_verify_token = Some("verify".into());
        a.media_http_hosts = named.parse().unwrap();
    })
    .await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    store
        .link(server::store::NewLink {
            account_id: account.id,
            channel: shared::Channel::Facebook,
            network_id: PAGE_ID,
            name: "page",
            token_sealed: vec![1],
            token_secret_sealed: None,
            skill_id: None,
            created_by: "test",
        })
        .await
        .unwrap();
    (server, store, account.id)
}

/// Posts a signed Messenger message with these attachments; answers the status.
async fn messenger_with(server: &TestServer, mid: &str, attachments: Vec<Value>) -> StatusCode {
    use hmac::{Hmac, Mac};
    let ts = 1_700_000_001_000i64;
    let raw = json!({"object":"page","entry":[{"id":PAGE_ID,"time":ts,"messaging":[{
        "sender":{"id":"2001"},"recipient":{"id":PAGE_ID},"timestamp":ts,
        "message":{"mid":mid,"text":"look","attachments":attachments}}]}]})
    .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(raw.as_bytes());
    reqwest::Client::new()
        .post(format!("{}/webhooks/facebook", server.url))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        )
        .body(raw)
        .send()
        .await
        .unwrap()
        .status()
}

/// A loopback server counting every request; `/hop` redirects to `redirect_to`.
async fn counting_server(redirect_to: Option<String>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let counted = counted.clone();
        let target = redirect_to.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            use axum::response::IntoResponse;
            match (uri.path(), target) {
                ("/hop", Some(t)) => axum::response::Redirect::temporary(&t).into_response(),
                _ => {
                    let (mime, bytes) = MediaKind::Image.generate();
                    ([("content-type", mime)], bytes).into_response()
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

/// Every media record of the first `n` ids, once each was tried.
async fn records_when_tried(store: &SqliteStore, n: i64) -> Vec<server::store::MediaRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut records = Vec::new();
        for id in 1..=n {
            records.extend(store.media_record(id).await.unwrap());
        }
        if records.len() as i64 == n && records.iter().all(|r| r.attempts > 0) {
            return records;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never tried: {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A webhook names the URL of its media: one pointing at this machine, a private
/// network, the metadata address or a host that is not the network's media host is never
/// asked, and the item is refused saying why. A shared link is a link: never asked either.
#[tokio::test]
async fn media_on_private_addresses_or_other_hosts_and_shared_links_are_never_fetched() {
    let (local, hits) = counting_server(None).await;
    let port = local.rsplit(':').next().unwrap().to_owned();
    // Only another port is named: this listener is an address like any other.
    let (server, store, _) = server_with_page("127.0.0.1:9").await;
    let urls = [
        format!("{local}/loopback.png"),
        format!("https://127.0.0.1:{port}/loopback-https.png"),
        format!("http://localhost:{port}/localhost.png"),
        format!("http://[::1]:{port}/v6.png"),
        "http://10.0.0.1/private.png".to_owned(),
        "https://192.168.1.1/private.png".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "https://cdn.evil.example/not-facebooks.png".to_owned(),
        "http://scontent.xx.fbcdn.net/over-http.png".to_owned(),
        "file:///etc/passwd".to_owned(),
    ];
    let mut attachments: Vec<Value> = urls
        .iter()
        .map(|u| json!({"type": "image", "payload": {"url": u}}))
        .collect();
    attachments.push(json!({"type": "fallback", "title": "Internal page",
        "url": format!("{local}/shared-link"), "payload": {"url": format!("{local}/shared-link")}}));
    assert_eq!(
        messenger_with(&server, "m_1", attachments).await,
        StatusCode::OK
    );

    let records = records_when_tried(&store, urls.len() as i64).await;
    for (r, url) in records.iter().zip(&urls) {
        assert_eq!(
            r.status,
            server::store::MediaStatus::Rejected,
            "{url}: {r:?}"
        );
        let why = r.error.as_deref().unwrap_or_default();
        assert!(why.starts_with("not fetched: "), "{url}: {why}");
        assert!(r.stored_path.is_none());
    }
    let why = |i: usize| records[i].error.clone().unwrap_or_default();
    assert!(why(0).contains("over http"), "{}", why(0));
    assert!(
        why(1).contains("not one of the network's media hosts"),
        "{}",
        why(1)
    );
    assert!(why(7).contains("cdn.evil.example"), "{}", why(7));
    assert!(why(8).contains("https only"), "{}", why(8));
    assert!(
        store
            .media_record(urls.len() as i64 + 1)
            .await
            .unwrap()
            .is_none(),
        "the shared link is no media item"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing was asked of this machine"
    );

    // The transcript shows the link, and offers none of the refused URLs.
    let agent = TestServer::client();
    let res = agent
        .post(format!("{}/api/session", server.url))
        .json(&json!({"account_number": ADMIN.0, "email": ADMIN.1, "password": ADMIN.2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let queue: Vec<Value> = agent
        .get(format!("{}/api/conversations?view=all", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t: Transcript = agent
        .get(format!(
            "{}/api/conversations/{}",
            server.url, queue[0]["id"]
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let line = &t.lines[0];
    assert_eq!(
        line.links,
        [shared::inbound::SharedLink {
            title: Some("Internal page".into()),
            url: format!("{local}/shared-link"),
        }]
    );
    assert_eq!(line.media.len(), urls.len());
    assert!(
        line.media.iter().all(|m| m.url.is_none()),
        "{:?}",
        line.media
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    server.stop().await;
}

/// Every hop of a redirect is checked again: from the network's (named) host to an
/// address it does not name, nothing is asked there.
#[tokio::test]
async fn a_redirect_from_a_media_host_to_a_private_address_is_refused() {
    let (private, private_hits) = counting_server(None).await;
    let private_port = private.rsplit(':').next().unwrap().to_owned();
    let (network, network_hits) = counting_server(Some(format!("{private}/secret"))).await;
    let (https_private, https_hits) =
        counting_server(Some(format!("https://127.0.0.1:{private_port}/secret"))).await;
    let (metadata, metadata_hits) =
        counting_server(Some("http://169.254.169.254/latest/meta-data/".into())).await;
    let (within, within_hits) = counting_server(None).await;
    let named = [&network, &https_private, &metadata, &within]
        .iter()
        .map(|u| u.trim_start_matches("http://"))
        .collect::<Vec<_>>()
        .join(" ");
    let (server, store, _) = server_with_page(&named).await;
    let attachments = vec![
        json!({"type": "image", "payload": {"url": format!("{network}/hop")}}),
        json!({"type": "image", "payload": {"url": format!("{https_private}/hop")}}),
        json!({"type": "image", "payload": {"url": format!("{metadata}/hop")}}),
        json!({"type": "image", "payload": {"url": format!("{within}/picture.png")}}),
    ];
    assert_eq!(
        messenger_with(&server, "m_2", attachments).await,
        StatusCode::OK
    );
    let records = records_when_tried(&store, 4).await;
    use server::store::MediaStatus::*;
    assert_eq!(
        records.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Rejected, Rejected, Rejected, Stored],
        "{records:#?}"
    );
    for r in &records[..3] {
        assert!(
            r.error
                .as_deref()
                .unwrap_or_default()
                .starts_with("not fetched: "),
            "{r:?}"
        );
    }
    assert_eq!(
        private_hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
    assert_eq!(
        (
            network_hits.load(Ordering::SeqCst),
            https_hits.load(Ordering::SeqCst),
            metadata_hits.load(Ordering::SeqCst),
            within_hits.load(Ordering::SeqCst)
        ),
        (1, 1, 1, 1)
    );
    server.stop().await;
}

/// Facebook's `profile_pic` URLs expire: the picture is copied like other media and the
/// API's profile points at our copy, served to the brand's people only.
#[tokio::test]
async fn a_facebook_profile_picture_is_copied_and_served_as_ours() {
    let (sb, server) = pair().await;
    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    link(
        &sb,
        &server,
        &[
            "link",
            "facebook",
            "--account",
            ADMIN.0,
            "--page-id",
            &page.id,
            "--page-name",
            &page.username,
            "--page-token",
            &page.access_token,
        ],
    )
    .await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let other = store
        .ensure_account("7777", "Other brand", true)
        .await
        .unwrap();
    for (account_id, email) in [
        (account.id, "agent@brand.example"),
        (other.id, "agent@other.example"),
    ] {
        server::auth::create_user(
            &store,
            Some(account_id),
            email,
            email,
            Role::Agent,
            "pass-word-1",
        )
        .await
        .unwrap()
        .unwrap();
    }
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook.consumer_message(&page, &ann, "hello", &[]);

    let agent = sign_in(&server, ADMIN.0, "agent@brand.example").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (t, picture) = loop {
        let queue: Vec<Value> = agent
            .get(format!("{}/api/conversations?view=all", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(c) = queue.first() {
            let t: Transcript = agent
                .get(format!("{}/api/conversations/{}", server.url, c["id"]))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(p) = t.consumer.profile.profile_pic.clone()
                && p.starts_with("/media/")
            {
                break (t, p);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no copy of the picture"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(t.consumer.profile.name.as_deref(), Some("Ann Lee"));
    // What the network gave, copied byte for byte.
    let stored = store.export(account.id, i64::MIN).await.unwrap()[0]
        .consumer
        .profile
        .clone();
    let network_url = stored["profile_pic"].as_str().unwrap();
    assert!(network_url.starts_with(&sb.url), "{network_url}");
    let (mime, bytes) = sb.facebook.media(network_url).unwrap();
    let res = agent
        .get(format!("{}{picture}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], mime.as_str());
    assert_eq!(res.headers()[CACHE_CONTROL], "private, no-cache");
    assert_eq!(res.bytes().await.unwrap(), bytes);
    // Another brand's agent does not get it.
    let stranger = sign_in(&server, "7777", "agent@other.example").await;
    assert_eq!(
        stranger
            .get(format!("{}{picture}", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    server.stop().await;
    sb.stop().await;
}

/// X delivers a GIF or video as MP4 variants (and an HLS playlist) with a preview still:
/// the copy is the best MP4, stored as `video/mp4`, with the preview as its poster, and
/// the transcript says which is a GIF and which a video.
#[tokio::test]
async fn x_gifs_and_videos_are_copied_as_their_mp4_with_the_preview_as_poster() {
    let (sb, server) = pair().await;
    let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
    link(
        &sb,
        &server,
        &[
            "link",
            "twitter",
            "--account",
            ADMIN.0,
            "--user-id",
            &brand.id,
            "--screen-name",
            &brand.screen_name,
            "--token",
            &brand.access_token,
            "--token-secret",
            &brand.access_token_secret,
        ],
    )
    .await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    server::auth::create_user(
        &store,
        Some(account.id),
        "agent@brand.example",
        "Agent",
        Role::Agent,
        "pass-word-1",
    )
    .await
    .unwrap()
    .unwrap();

    let (_, gif) = MediaKind::Gif.generate();
    let mut video = sandbox::twitter::GIF_MP4.to_vec();
    video.extend_from_slice(b"\0\0\0\x08free");
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    sb.twitter.consumer_tweet(
        &bo,
        "@acme the zip does this",
        vec![MediaFile {
            mime: "image/gif".into(),
            bytes: gif,
        }],
    );
    sb.twitter
        .consumer_dm(
            &bo,
            &brand.id,
            "and here it is on video",
            Some(MediaFile {
                mime: "video/mp4".into(),
                bytes: video.clone(),
            }),
        )
        .unwrap();

    let exported = media_when_copied(&store, account.id, 2).await;
    let mut summary: Vec<(String, String)> = exported
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_owned(),
                m["mime"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        [
            ("gif".to_owned(), "video/mp4".to_owned()),
            ("video".to_owned(), "video/mp4".to_owned())
        ]
    );

    let agent = sign_in(&server, ADMIN.0, "agent@brand.example").await;
    let queue: Vec<Value> = agent
        .get(format!("{}/api/conversations?view=all", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut media: Vec<LineMedia> = Vec::new();
    for c in &queue {
        let t: Transcript = agent
            .get(format!("{}/api/conversations/{}", server.url, c["id"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        media.extend(t.lines.into_iter().flat_map(|l| l.media));
    }
    assert_eq!(media.len(), 2, "{media:#?}");
    let get = |path: &str| agent.get(format!("{}{path}", server.url)).send();
    for (kind, bytes) in [
        (shared::inbound::MediaKind::Gif, sandbox::twitter::GIF_MP4),
        (shared::inbound::MediaKind::Video, video.as_slice()),
    ] {
        let m = media.iter().find(|m| m.kind == kind).unwrap();
        assert_eq!(m.mime.as_deref(), Some("video/mp4"), "{m:?}");
        let url = m.url.as_deref().unwrap();
        assert!(url.starts_with("/media/"), "our copy: {m:?}");
        let res = get(url).await.unwrap();
        assert_eq!(res.headers()[CONTENT_TYPE], "video/mp4");
        assert_eq!(res.headers()[CONTENT_DISPOSITION], "inline");
        assert_eq!(res.bytes().await.unwrap(), bytes, "{kind:?}");
        // The preview is the poster, re-encoded by us; no still or thumbnail is made from
        // an MP4.
        let poster = m.poster_url.as_deref().expect("a poster");
        assert_eq!(poster, format!("{url}/poster"));
        let res = get(poster).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("image/")
        );
        assert!(m.still_url.is_none() && m.thumbnail_url.is_none(), "{m:?}");
    }

    // What was fetched from X: the best MP4 of each and the previews; never a playlist,
    // never a lower bit rate.
    let fetched: Vec<String> = sb
        .twitter
        .shared()
        .calls
        .all()
        .into_iter()
        .filter(|c| c.path.starts_with("/media/"))
        .map(|c| c.path)
        .collect();
    assert!(
        fetched.iter().any(|p| p.ends_with("/0.mp4")),
        "the GIF's MP4: {fetched:?}"
    );
    assert!(
        fetched.iter().any(|p| p.ends_with("/2176000.mp4")),
        "the video's best MP4: {fetched:?}"
    );
    assert_eq!(
        fetched
            .iter()
            .filter(|p| p.ends_with("/preview.jpg"))
            .count(),
        2,
        "{fetched:?}"
    );
    assert!(
        !fetched.iter().any(|p| p.ends_with(".m3u8")
            || p.ends_with("/256000.mp4")
            || p.ends_with("/832000.mp4")),
        "{fetched:?}"
    );

    server.stop().await;
    sb.stop().await;
}
