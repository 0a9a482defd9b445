//! A database held by someone else: a webhook waits out the busy timeout, then is refused
//! with 503 and nothing half-written; the network's redelivery after the lock is released
//! stores it once.

use crate::common;

use common::{ADMIN, TestServer};
use hmac::{Hmac, Mac};
use serde_json::json;
use server::store::prelude::*;
use server::store::{NewLink, SqliteStore};
use sqlx::Connection;

const SECRET: &str = "locked-secret";
const PAGE: &str = "4040404040";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_answers_503_and_keeps_nothing_half_written() {
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| {
        a.facebook.facebook_app_id = Some("app".into());
        a.facebook.facebook_app_secret = Some(SECRET.into());
    })
    .await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    store
        .link(NewLink {
            account_id: account.id,
            channel: shared::Channel::Facebook,
            network_id: PAGE,
            name: "locked",
            token_sealed: vec![0],
            token_secret_sealed: None,
            skill_id: None,
            created_by: "test",
        })
        .await
        .unwrap();

    let body = json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{
        "sender":{"id":"2001"},"recipient":{"id":PAGE},"timestamp":1_700_000_000_000i64,
        "message":{"mid":"m.locked","text":"are you there?"}}]}]})
    .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let deliver = || {
        reqwest::Client::new()
            .post(format!("{}/webhooks/facebook", server.url))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &signature)
            .body(body.clone())
            .send()
    };

    // Another process holds the database exclusively for longer than the busy timeout.
    let path = server.data_dir.path().join("socialconnect.db");
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let refused = deliver().await.unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["code"], "unavailable");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    drop(holder);

    assert!(
        store.export(account.id, i64::MIN).await.unwrap().is_empty(),
        "nothing half-written"
    );
    // The network redelivers what was not acknowledged.
    assert_eq!(deliver().await.unwrap().status().as_u16(), 200);
    assert_eq!(deliver().await.unwrap().status().as_u16(), 200);
    let convs = store.export(account.id, i64::MIN).await.unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0].messages.len(), 1);
    server.stop().await;
}
