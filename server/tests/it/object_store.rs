//! Media in S3-compatible object storage (`SOCIALCONNECT_MEDIA_STORE`), against a local S3
//! server (moto's `moto_server`, started here on a port of its own; `cargo xtask setup`
//! installs it with pip): a consumer's picture is copied into the bucket and served from it
//! (byte ranges too), an agent's upload is stored there and goes out with a reply, and the
//! data dir keeps no copy. The server runs on PostgreSQL, as instances sharing a bucket
//! would (`common/pg.rs`).

use crate::common;

use common::pg::PgDb;
use common::world::sign_in;
use common::{ADMIN, TestServer};
use object_store::ObjectStore;
use sandbox::facebook::MediaKind;
use serde_json::{Value, json};
use server::crypto::TokenCipher;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BUCKET: &str = "sc-media";
const PREFIX: &str = "fleet-1";

/// A local S3 server, stopped when dropped.
struct S3(Child, String);

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn s3() -> S3 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "\n*** moto_server (a local S3 server) cannot be started: {e}\n*** This test \
                 needs it on PATH: `cargo xtask setup` installs it (`pip install \
                 'moto[server]'`), `cargo xtask test` too; see README.md, \"Tests worth \
                 knowing\".\n"
            )
        });
    let url = format!("http://127.0.0.1:{port}");
    let s3 = S3(child, url.clone());
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(&url).send().await.is_ok() {
            let made = http.put(format!("{url}/{BUCKET}")).send().await.unwrap();
            assert!(made.status().is_success(), "creating the bucket");
            return s3;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server was started but never answered at {url}");
}

/// The names of the files and folders in `dir` (none when it does not exist).
fn files_under(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).map_or_else(
        |_| Vec::new(),
        |d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_and_uploads_live_in_the_bucket() {
    let s3 = s3().await;
    let (listener, url, sb) = common::sandbox_calling_back().await;
    let c = sb.credentials.clone();
    let graph = sb.facebook.graph_url();
    let media_hosts = sb.media_http_hosts();
    let endpoint = s3.1.clone();
    let pg = PgDb::create().await;
    let database_url = Some(pg.url.clone());
    let server_database_url = database_url.clone();
    let server = TestServer::start_on(listener, tempfile::tempdir().unwrap(), move |a| {
        a.facebook.facebook_app_id = Some(c.facebook_app_id.clone());
        a.facebook.facebook_app_secret = Some(c.facebook_app_secret.clone());
        a.facebook.facebook_verify_token = Some(c.facebook_verify_token.clone());
        a.facebook.facebook_graph_url = graph;
        a.media_http_hosts = media_hosts.parse().unwrap();
        a.store.database_url = server_database_url;
        a.media_store.media_store = Some(format!("s3://{BUCKET}/{PREFIX}"));
        a.media_store.s3_endpoint = Some(endpoint);
        a.media_store.s3_access_key_id = Some("test".into());
        a.media_store.s3_secret_access_key = Some("test".into());
    })
    .await;
    let data = server.data_dir.path().to_path_buf();
    let store = server::store::open(database_url.as_deref(), &data)
        .await
        .unwrap();
    let cipher = TokenCipher::load(None, &data).unwrap();
    let mut fb = server::config::ServeArgs::for_tests(data.clone()).facebook;
    fb.facebook_app_secret = Some(sb.credentials.facebook_app_secret.clone());
    fb.facebook_graph_url = sb.facebook.graph_url();
    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    server::link::link_facebook(
        store.as_ref(),
        &cipher,
        &reqwest::Client::new(),
        &fb,
        server::link::FacebookPage {
            account_number: ADMIN.0,
            page_id: &page.id,
            page_name: &page.username,
            page_token: &page.access_token,
            skill: "social",
            by: "test",
        },
    )
    .await
    .unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap().id;
    let (agent, csrf) = sign_in(&url).await;

    // A consumer's picture: copied into the bucket, served from it.
    let ann = sb.facebook.add_consumer("Ann Lee", false);
    sb.facebook
        .consumer_message(&page, &ann, "the broken zip", &[MediaKind::Image]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (conversation, media_id) = loop {
        let convs = store.export(account, i64::MIN).await.unwrap();
        if let Some(c) = convs.first()
            && c.messages[0]
                .media
                .first()
                .is_some_and(|m| m.bytes.is_some())
        {
            let t = store.transcript(c.id).await.unwrap().unwrap();
            let url = t.lines[0].media[0].url.clone().unwrap();
            break (
                c.id,
                url.trim_start_matches("/media/").parse::<i64>().unwrap(),
            );
        }
        assert!(tokio::time::Instant::now() < deadline, "never copied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let record = store.media_record(media_id).await.unwrap().unwrap();
    let bucket = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_endpoint(&s3.1)
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let key = |rel: &str| object_store::path::Path::from(format!("{PREFIX}/{rel}"));
    let stored = bucket
        .get(&key(record.stored_path.as_deref().unwrap()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(stored.len() as i64, record.bytes.unwrap());
    assert!(
        bucket
            .head(&key(record.thumb_path.as_deref().unwrap()))
            .await
            .is_ok(),
        "the thumbnail is in the bucket too"
    );
    // Other copies (the consumer's profile picture) may still be on their way through the
    // data dir to the bucket: none is kept there once they are done.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = files_under(&data.join("media"));
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "copies kept in the data dir: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let res = agent
        .get(format!("{url}/media/{media_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], record.mime.clone().unwrap());
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.bytes().await.unwrap(), stored);
    let res = agent
        .get(format!("{url}/media/{media_id}"))
        .header("range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes 2-5/{}", stored.len())
    );
    assert_eq!(res.bytes().await.unwrap(), stored.slice(2..6));
    assert_eq!(
        agent
            .get(format!("{url}/media/{media_id}/thumb"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Without a session: nothing.
    assert_eq!(
        reqwest::get(format!("{url}/media/{media_id}"))
            .await
            .unwrap()
            .status(),
        401
    );

    // An agent's upload: stored in the bucket, sent with a reply.
    let png = sandbox::facebook::media::png_2x2();
    let res = agent
        .post(format!("{url}/api/uploads"))
        .header("x-csrf-token", &csrf)
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let upload_id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let upload = store.upload(upload_id).await.unwrap().unwrap();
    let in_bucket = bucket
        .get(&key(&upload.path))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(in_bucket.to_vec(), png);
    assert_eq!(
        files_under(&data.join("uploads")),
        Vec::<String>::new(),
        "no upload in the data dir"
    );
    let res = agent
        .post(format!("{url}/api/conversations/{conversation}/replies"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"text": "", "mode": "private", "upload_id": upload_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let line = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, error) = store.line_status(line).await.unwrap().unwrap();
        if status != "sending" {
            assert_eq!(status, "sent", "{error:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "reply never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = sb.facebook.inbox(&page, &ann);
    assert!(
        sent.iter()
            .any(|m| m.from_page && m.attachments.iter().any(|a| a.kind == "image")),
        "the image reached Messenger: {sent:#?}"
    );
    server.stop().await;
}
