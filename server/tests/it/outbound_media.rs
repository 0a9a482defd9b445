//! Images and GIFs out: uploads checked by magic bytes and size, the URL fetcher's refusals
//! (SSRF), and replies with an image on every mode of each network, seen in the sandbox.
//! Nothing here connects anywhere but loopback: private and metadata addresses are
//! refused before any connection.

use crate::common;

use common::world::{World, texts};
use serde_json::{Value, json};
use server::store::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

impl World {
    async fn reply_media(
        &self,
        conversation: i64,
        mode: &str,
        text: &str,
        upload_id: i64,
    ) -> (u16, Value) {
        self.reply_with(
            conversation,
            json!({"text": text, "mode": mode, "upload_id": upload_id}),
        )
        .await
    }
}

/// A PNG-signed file of `size` bytes (the networks here check magic bytes, not pixels).
fn png(size: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.resize(size, 7);
    b
}

fn gif(size: usize) -> Vec<u8> {
    let mut b = b"GIF89a".to_vec();
    b.resize(size, 3);
    b
}

impl World {
    async fn upload(&self, bytes: Vec<u8>, content_type: &str) -> (u16, Value) {
        let res = self
            .agent
            .post(format!("{}/api/uploads", self.server.url))
            .header("x-csrf-token", &self.csrf)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn upload_id(&self, bytes: Vec<u8>, content_type: &str) -> i64 {
        let (status, body) = self.upload(bytes, content_type).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    async fn upload_url(&self, url: &str) -> (u16, Value) {
        let res = self
            .agent
            .post(format!("{}/api/uploads/from-url", self.server.url))
            .header("x-csrf-token", &self.csrf)
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn sent(&self, line: &Value) {
        let id = line["id"].as_i64().expect("a line id");
        let (status, error) = self.settled(id, Duration::from_secs(20)).await;
        assert_eq!(status, "sent", "{error:?}");
    }

    fn stored_files(&self) -> usize {
        std::fs::read_dir(self.server.data_dir.path().join("uploads"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

#[tokio::test]
async fn facebook_images_on_messenger_private_response_and_comments() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook
        .consumer_message(&w.page, &ann, "Where is my order?", &[]);
    let (messenger, _) = w
        .conversation(|c| texts(c).contains(&"Where is my order?".to_owned()))
        .await;
    let image = w.upload_id(png(300_000), "image/png").await;
    let animation = w.upload_id(gif(200_000), "image/gif").await;

    // Private: the image, then the text, as two messages.
    let (status, line) = w
        .reply_media(messenger, "private", "Here is the label", image)
        .await;
    assert_eq!(status, 201, "{line}");
    w.sent(&line).await;
    let (_, line) = w.reply_media(messenger, "private", "", animation).await;
    w.sent(&line).await;
    let inbox = w.sb.facebook.inbox(&w.page, &ann);
    let ours: Vec<_> = inbox.iter().filter(|m| m.from_page).collect();
    assert_eq!(ours.len(), 3, "{ours:#?}");
    assert_eq!(ours[0].attachments.len(), 1);
    assert_eq!(ours[0].attachments[0].kind, "image");
    assert_eq!(ours[1].text.as_deref(), Some("Here is the label"));
    assert_eq!(ours[2].attachments.len(), 1);
    let (mime, bytes) = w.sb.facebook.media(&ours[2].attachments[0].url).unwrap();
    assert_eq!((mime.as_str(), bytes.len()), ("image/gif", 200_000));
    let uploads =
        w.sb.facebook
            .calls()
            .matching("facebook", "POST", "/me/messages");
    assert!(
        uploads.iter().any(|c| c.body["filedata"]
            .as_str()
            .is_some_and(|f| f.contains("300000 bytes"))),
        "{uploads:#?}"
    );

    // Public comments: the text with the image at our signed URL; and a GIF alone.
    let post =
        w.sb.facebook
            .consumer_post(&w.page, &ann, "The zip broke", None);
    w.sb.facebook
        .consumer_comment(&w.page, &post, &ann, "see photo")
        .unwrap();
    let (feed, _) = w
        .conversation(|c| texts(c).contains(&"see photo".to_owned()))
        .await;
    let (_, line) = w.reply_media(feed, "public", "This one?", image).await;
    w.sent(&line).await;
    let (_, line) = w.reply_media(feed, "public", "", animation).await;
    w.sent(&line).await;
    let comments = w.sb.facebook.comments(&post);
    let with_text = comments.iter().find(|c| c.message == "This one?").unwrap();
    let url = with_text.attachment_url.clone().expect("an attachment_url");
    assert!(
        url.starts_with(&format!("{}/media/uploads/{image}?exp=", w.server.url)),
        "{url}"
    );
    let gif_comment = comments
        .iter()
        .find(|c| c.from.id == w.page.id && c.message.is_empty())
        .expect("the GIF-only comment");
    assert!(gif_comment.attachment_url.is_some());
    // Fetched as Facebook would: no session, the signature is the authority.
    let anonymous = reqwest::Client::new();
    let res = anonymous.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().len(), 300_000);
    let tampered = url.replace(
        &format!("/uploads/{image}?"),
        &format!("/uploads/{animation}?"),
    );
    assert_eq!(anonymous.get(&tampered).send().await.unwrap().status(), 404);
    let expired = url.replace("exp=", "exp=1");
    assert_eq!(anonymous.get(&expired).send().await.unwrap().status(), 404);

    // Private Response: one message, so the image alone (with text it is refused).
    let (status, _) = w
        .reply_media(feed, "private_response", "and text", image)
        .await;
    assert_eq!(status, 400);
    let (_, line) = w.reply_media(feed, "private_response", "", animation).await;
    w.sent(&line).await;
    assert!(
        w.sb.facebook
            .inbox(&w.page, &ann)
            .iter()
            .any(|m| m.private_reply_to.is_some() && m.attachments.len() == 1)
    );
    w.server.stop().await;
}

#[tokio::test]
async fn a_facebook_comments_image_is_held_to_the_limit_the_widget_states() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    let post =
        w.sb.facebook
            .consumer_post(&w.page, &ann, "The zip broke", None);
    w.sb.facebook
        .consumer_comment(&w.page, &post, &ann, "see photo")
        .unwrap();
    let (feed, _) = w
        .conversation(|c| texts(c).contains(&"see photo".to_owned()))
        .await;
    // 9 MB: stored (the upload limit is 15 MB) and fine for Messenger, but a comment's
    // image goes by URL, which Facebook takes up to 8 MB.
    let size = 9 * 1024 * 1024;
    let big = w.upload_id(png(size), "image/png").await;
    let (status, line) = w.reply_media(feed, "public", "This one?", big).await;
    assert_eq!(status, 201, "{line}");
    assert_eq!(line["status"], "failed");
    // Word for word what the widget tells the agent choosing that file for a comment.
    let comment =
        shared::replies::reply_target(shared::Channel::Facebook, shared::ReplyMode::Public);
    let widget_says =
        shared::media_limits::image_refusal(comment, "image/png", size as u64).unwrap();
    assert_eq!(line["error"].as_str(), Some(widget_says.as_str()));
    assert!(widget_says.contains("over the 8 MB limit"), "{widget_says}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        w.sb.facebook
            .comments(&post)
            .iter()
            .all(|c| c.from.id != w.page.id)
    );
    w.server.stop().await;
}

#[tokio::test]
async fn twitter_images_and_gifs_in_replies_and_dms() {
    let w = World::start().await;
    let ann = w.sb.twitter.add_consumer("ann", "Ann Lee");
    let tweet =
        w.sb.twitter
            .consumer_tweet(&ann, "@acme my tent leaks", vec![]);
    w.sb.twitter
        .consumer_dm(&ann, &w.brand.id, "order 42", None)
        .unwrap();
    let (conv, _) = w.conversation(|c| texts(c).len() >= 2).await;
    // 2.5 MB: three APPEND chunks of at most 1 MiB.
    let image = w.upload_id(png(2_500_000), "image/png").await;
    let animation = w.upload_id(gif(150_000), "image/gif").await;

    let (_, a) = w
        .reply_media(conv, "public", "@ann like this?", image)
        .await;
    let (_, b) = w.reply_media(conv, "public", "", animation).await;
    let (_, c) = w.reply_media(conv, "private", "the label", image).await;
    let (_, d) = w.reply_media(conv, "private", "", animation).await;
    for line in [&a, &b, &c, &d] {
        w.sent(line).await;
    }
    let thread = w.sb.twitter.thread(&tweet);
    let ours: Vec<_> = thread
        .iter()
        .filter(|t| t.author_id == w.brand.id)
        .collect();
    assert_eq!(ours.len(), 2, "{thread:#?}");
    assert!(ours.iter().all(|t| t.media_urls.len() == 1), "{ours:#?}");
    let dms: Vec<_> =
        w.sb.twitter
            .dm_conversation(&ann.id, &w.brand.id)
            .into_iter()
            .filter(|d| d.sender_id == w.brand.id)
            .collect();
    assert_eq!(dms.len(), 2, "{dms:#?}");
    assert!(dms.iter().all(|d| d.media_url.is_some()));
    assert_eq!(dms[0].text, "the label");

    let calls =
        w.sb.facebook
            .calls()
            .all()
            .into_iter()
            .filter(|c| c.network == "twitter")
            .collect::<Vec<_>>();
    let media: Vec<_> = calls
        .iter()
        .filter(|c| c.path == "/2/media/upload")
        .collect();
    let inits: Vec<&str> = media
        .iter()
        .filter(|c| c.body["command"] == "INIT")
        .map(|c| c.body["media_category"].as_str().unwrap())
        .collect();
    assert_eq!(inits, ["tweet_image", "tweet_gif", "dm_image", "dm_gif"]);
    let appends = media
        .iter()
        .filter(|c| c.body["command"] == "APPEND")
        .count();
    assert_eq!(appends, 3 + 1 + 3 + 1);
    assert!(
        media
            .iter()
            .any(|c| c.method == "GET" && c.query.contains("command=STATUS")),
        "GIFs are processed asynchronously and polled"
    );
    assert!(media.iter().all(|c| c.status < 300), "{media:#?}");
    let posts =
        w.sb.facebook
            .calls()
            .matching("twitter", "POST", "/2/tweets");
    assert!(
        posts
            .iter()
            .all(|p| p.body["media"]["media_ids"].as_array().unwrap().len() == 1)
    );
    w.server.stop().await;
}

#[tokio::test]
async fn uploads_are_checked_before_anything_is_stored() {
    let w = World::start().await;
    // PNG bytes declared as a GIF; a text file declared as an image; a text type.
    assert_eq!(w.upload(png(1000), "image/gif").await.0, 400);
    assert_eq!(
        w.upload(b"just words, no picture".to_vec(), "image/png")
            .await
            .0,
        400
    );
    assert_eq!(w.upload(b"hello".to_vec(), "text/plain").await.0, 400);
    assert_eq!(w.upload(png(1000), "image/svg+xml").await.0, 400);
    // Over 15 MiB: refused from its length, before the body is read.
    let (status, body) = w.upload(gif(15 * 1024 * 1024 + 1), "image/gif").await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(w.stored_files(), 0);
    // Without a session, or without the CSRF token.
    let res = reqwest::Client::new()
        .post(format!("{}/api/uploads", w.server.url))
        .header("content-type", "image/png")
        .body(png(100))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = w
        .agent
        .post(format!("{}/api/uploads", w.server.url))
        .header("content-type", "image/png")
        .body(png(100))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(w.stored_files(), 0);
    // A good one is stored and described.
    let (status, body) = w.upload(png(1000), "image/png").await;
    assert_eq!(status, 201);
    assert_eq!(
        (body["mime"].as_str(), body["bytes"].as_i64()),
        (Some("image/png"), Some(1000))
    );
    assert_eq!(w.stored_files(), 1);
    w.server.stop().await;
}

#[tokio::test]
async fn media_over_a_networks_limit_is_stored_as_not_sent() {
    let w = World::start().await;
    let ann = w.sb.twitter.add_consumer("ann", "Ann Lee");
    w.sb.twitter.consumer_tweet(&ann, "@acme hello", vec![]);
    w.sb.twitter
        .consumer_dm(&ann, &w.brand.id, "order 42", None)
        .unwrap();
    let (conv, _) = w.conversation(|c| texts(c).len() >= 2).await;

    // A 6 MB PNG: fine for Messenger, over X's 5 MB for images.
    let big_png = w.upload_id(png(6 * 1024 * 1024), "image/png").await;
    let (status, line) = w.reply_media(conv, "public", "look", big_png).await;
    assert_eq!(status, 201);
    assert_eq!(line["status"], "failed");
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("over the 5 MB limit"),
        "{line}"
    );

    // A GIF over X's 15 MB (stored before the upload limit was what it is).
    let path = "uploads/huge.gif";
    std::fs::create_dir_all(w.server.data_dir.path().join("uploads")).unwrap();
    std::fs::write(w.server.data_dir.path().join(path), gif(16 * 1024 * 1024)).unwrap();
    let huge = w
        .store
        .create_upload(w.account_id, "image/gif", 16 * 1024 * 1024, path, 0)
        .await
        .unwrap();
    let (status, line) = w.reply_media(conv, "private", "", huge).await;
    assert_eq!(status, 201);
    assert_eq!(line["status"], "failed");
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("over the 15 MB limit"),
        "{line}"
    );
    let (status, error) = w
        .store
        .line_status(line["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, "failed");
    assert!(error.is_some());

    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls =
        w.sb.facebook
            .calls()
            .all()
            .into_iter()
            .filter(|c| c.network == "twitter")
            .collect::<Vec<_>>();
    assert!(
        !calls
            .iter()
            .any(|c| c.path.contains("media") || c.path == "/2/tweets"),
        "nothing refused may reach the network: {calls:#?}"
    );
    // Another brand's upload is not ours to send.
    let (status, _) = w.reply_media(conv, "private", "x", 999_999).await;
    assert_eq!(status, 404);
    w.server.stop().await;
}

/// A loopback server counting its hits; `/redirect` points at `target`.
async fn tiny_server(target: Option<String>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let counted = counted.clone();
        let target = target.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            use axum::response::IntoResponse;
            match (uri.path(), target) {
                ("/redirect", Some(t)) => axum::response::Redirect::temporary(&t).into_response(),
                _ => ([("content-type", "image/png")], png(2000)).into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn urls_to_private_addresses_are_refused_before_connecting() {
    let w = World::start().await;
    let (local, hits) = tiny_server(None).await;
    let port = local.rsplit(':').next().unwrap().to_owned();
    for url in [
        "http://127.0.0.1/".to_owned(),
        format!("{local}/image.png"),
        format!("http://localhost:{port}/image.png"),
        format!("http://[::1]:{port}/image.png"),
        "http://[::1]/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "file:///etc/passwd".to_owned(),
        "ftp://example.com/a.png".to_owned(),
    ] {
        let (status, body) = w.upload_url(&url).await;
        assert_eq!(status, 400, "{url}: {body}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was contacted");
    assert_eq!(w.stored_files(), 0);
    w.server.stop().await;
}

#[tokio::test]
async fn a_redirect_to_loopback_is_refused() {
    let (target, target_hits) = tiny_server(None).await;
    let (redirector, redirector_hits) = tiny_server(Some(format!("{target}/secret"))).await;
    // Only the redirector itself is allowed: exactly its address.
    let policy = server::uploads::policy::AddressPolicy {
        allow_private: false,
        also_allow: vec![redirector.trim_start_matches("http://").parse().unwrap()],
    };
    let client = server::uploads::fetch::SafeClient::new(policy, Default::default());
    let direct = client
        .fetch(
            &format!("{redirector}/image.png"),
            1 << 20,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(direct.unwrap().bytes.len(), 2000);
    let redirected = client
        .fetch(
            &format!("{redirector}/redirect"),
            1 << 20,
            Duration::from_secs(5),
        )
        .await;
    assert!(
        matches!(
            redirected,
            Err(server::uploads::fetch::FetchError::Refused(_))
        ),
        "{:?}",
        redirected.err()
    );
    assert_eq!(redirector_hits.load(Ordering::SeqCst), 2);
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
    // Too large while streaming.
    let small = client
        .fetch(
            &format!("{redirector}/image.png"),
            1000,
            Duration::from_secs(5),
        )
        .await;
    assert!(matches!(
        small,
        Err(server::uploads::fetch::FetchError::TooLarge(1000))
    ));
}

#[tokio::test]
async fn the_test_setting_lets_a_loopback_image_be_fetched_and_sent() {
    let w = World::start_with(true).await;
    let (local, hits) = tiny_server(None).await;
    let (status, body) = w.upload_url(&format!("{local}/image.png")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["mime"].as_str(), body["bytes"].as_i64()),
        (Some("image/png"), Some(2000))
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The metadata address stays refused even so.
    assert_eq!(w.upload_url("http://169.254.169.254/").await.0, 400);
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook.consumer_message(&w.page, &ann, "hi", &[]);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"hi".to_owned()))
        .await;
    let (_, line) = w
        .reply_media(conv, "private", "", body["id"].as_i64().unwrap())
        .await;
    w.sent(&line).await;
    w.server.stop().await;
}
