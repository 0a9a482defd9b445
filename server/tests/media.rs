//! Inbound media end to end against the sandbox networks: pictures, a GIF and a video on
//! Messenger and a picture in an X Direct Message arrive; the fetcher copies them; export
//! shows their checked type and size; the brand's people get them (with byte ranges),
//! everyone else does not.

mod common;

use common::{ADMIN, TestServer};
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_TYPE, RANGE, X_CONTENT_TYPE_OPTIONS,
};
use sandbox::facebook::MediaKind;
use sandbox::twitter::MediaFile;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use server::store::{SqliteStore, Store};
use shared::Role;
use shared::api::{LineMedia, Transcript};
use std::time::Duration;

/// A sandbox and a server pointed at each other, both networks configured.
async fn pair() -> (Sandbox, TestServer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sb = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        callback: format!("http://{}", listener.local_addr().unwrap()),
        credentials: None,
    })
    .await
    .unwrap();
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
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
        assert!(
            tokio::time::Instant::now() < deadline,
            "copied {copied} of {n}: {media:#?}"
        );
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
