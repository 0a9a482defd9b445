//! SocialConnect Home in a real browser against the sandbox networks: an admin links a
//! Facebook page through the Facebook Login dialog and a Twitter/X account through X's
//! Authorize App page, unlinks and relinks each, and the consumer's messages before and
//! after land in the same conversation; an agent finds no way in.

use anyhow::{Context, Result, ensure};
use e2e::Harness;
use server::store::SqliteStore;
use server::store::prelude::*;
use std::time::Duration;

/// Every conversation of the demo brand: `(id, consumer's network id, texts in order)`.
async fn conversations(h: &Harness) -> Result<Vec<(i64, String, Vec<String>)>> {
    let store = SqliteStore::open(h.data_dir()).await?;
    let account = store
        .account_by_number("1000")
        .await?
        .context("the demo brand")?;
    Ok(store
        .export(account.id, i64::MIN)
        .await?
        .into_iter()
        .map(|c| {
            (
                c.id,
                c.consumer.network_id,
                c.messages.into_iter().map(|m| m.text).collect(),
            )
        })
        .collect())
}

/// Waits until some conversation holds `text`; returns that conversation's id.
async fn stored(h: &Harness, text: &str) -> Result<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((id, _, _)) = conversations(h)
            .await?
            .into_iter()
            .find(|(_, _, texts)| texts.iter().any(|t| t == text))
        {
            return Ok(id);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{text:?} was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the browser to reach a page whose path ends with `suffix` (a network's
/// sign-in page): by the address, which never goes stale while a page is replaced.
async fn arrive(h: &Harness, suffix: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let path = h.path().await?;
        if path.ends_with(suffix) {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "expected to reach …{suffix}, still at {path}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Facebook Login dialog: Continue, then back at Home with the pages to pick from.
async fn facebook_dialog(h: &Harness) -> Result<()> {
    arrive(h, "/dialog/oauth").await?;
    h.wait_for_text("Log in with Facebook").await?;
    h.click("button", "Continue").await?;
    h.wait_for_path("/home").await?;
    h.wait_for_text("Choose a Facebook page").await
}

/// X's authorize page: Authorize App, then back at Home.
async fn authorize_app(h: &Harness) -> Result<()> {
    arrive(h, "/oauth/authorize").await?;
    h.click("button", "Authorize App").await?;
    h.wait_for_path("/home").await
}

/// Screenshots of the whole page, a window's height at a time: `<label>-1.png`, ….
async fn screenshots(h: &Harness, label: &str) -> Result<()> {
    let height = h
        .browser
        .execute("return document.documentElement.scrollHeight", vec![])
        .await?
        .as_f64()
        .unwrap_or(900.0);
    let windows = (height / 900.0).ceil().max(1.0) as u32;
    for i in 0..windows {
        h.browser
            .execute(&format!("window.scrollTo(0, {})", i * 900), vec![])
            .await?;
        h.screenshot(&format!("{label}-{}", i + 1)).await?;
    }
    Ok(())
}

async fn sign_in_admin(h: &Harness) -> Result<()> {
    h.sign_in("1000", "admin@demo.example", "demo-admin")
        .await?;
    h.wait_for_path("/workspace").await?;
    h.click("link", "SocialConnect Home").await?;
    h.wait_for_path("/home").await?;
    h.wait_for_text("No Facebook pages or Twitter/X accounts are linked yet.")
        .await
}

/// Add Account → Facebook → the Login dialog's Continue → pick the page.
async fn link_facebook_page(h: &Harness, button: &str) -> Result<()> {
    h.click("button", "Add Account").await?;
    h.click("button", "Facebook").await?;
    facebook_dialog(h).await?;
    h.click("button", button).await
}

#[tokio::test]
async fn admin_links_unlinks_and_relinks_a_facebook_page_keeping_history() {
    let (h, sb) = Harness::start_with_sandbox_unlinked("home-facebook", 360)
        .await
        .unwrap();
    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    h.run(async |h| {
        sign_in_admin(h).await?;
        link_facebook_page(h, "Link Acme Outdoor").await?;
        h.wait_for_text("Facebook AcmeOutdoor is linked.").await?;
        h.wait_for_text("Linked").await?;
        // The app is subscribed to the page's webhooks with its page token.
        ensure!(
            sb.facebook
                .subscribed_fields(&page)
                .contains(&"messages".to_owned()),
            "the page was not subscribed: {:?}",
            sb.facebook.subscribed_fields(&page)
        );
        sb.facebook
            .consumer_message(&page, &ann, "Before the unlink", &[]);
        let first = stored(h, "Before the unlink").await?;

        h.click("button", "Edit AcmeOutdoor").await?;
        h.click("button", "Unlink").await?;
        h.wait_for_text("is unlinked; its conversations are kept.")
            .await?;
        h.wait_for_text("Unlinked").await?;
        ensure!(
            sb.facebook.subscribed_fields(&page).is_empty(),
            "the page still sends webhooks"
        );
        // Anything the page would still deliver is ignored while unlinked.
        sb.facebook
            .consumer_message(&page, &ann, "While unlinked", &[]);
        h.screenshot("unlinked").await?;

        h.click("button", "Edit AcmeOutdoor").await?;
        h.click("button", "Relink").await?;
        facebook_dialog(h).await?;
        h.click("button", "Relink Acme Outdoor").await?;
        h.wait_for_text("Facebook AcmeOutdoor is linked.").await?;
        sb.facebook
            .consumer_message(&page, &ann, "After the relink", &[]);
        let second = stored(h, "After the relink").await?;
        ensure!(
            first == second,
            "the relinked page's messages went to conversation {second}, not {first}"
        );
        let all = conversations(h).await?;
        ensure!(all.len() == 1, "one conversation expected: {all:?}");
        ensure!(
            !all[0].2.iter().any(|t| t == "While unlinked"),
            "a message of the unlinked page was stored: {all:?}"
        );
        h.wait_for_text("relinked").await?; // the audit log
        h.wait_for_text("unlinked").await?;
        screenshots(h, "narrow").await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn admin_links_unlinks_and_relinks_a_twitter_account_keeping_history() {
    let (h, sb) = Harness::start_with_sandbox_unlinked("home-twitter", 1280)
        .await
        .unwrap();
    let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    h.run(async |h| {
        sign_in_admin(h).await?;
        h.click("button", "Add Account").await?;
        h.click("button", "Twitter/X").await?;
        authorize_app(h).await?;
        h.wait_for_text("Twitter/X acme is linked.").await?;
        sb.twitter
            .consumer_dm(&bo, &brand.id, "Before the unlink", None)
            .map_err(anyhow::Error::msg)?;
        let first = stored(h, "Before the unlink").await?;

        h.click("button", "Edit acme").await?;
        h.click("button", "Unlink").await?;
        h.wait_for_text("is unlinked; its conversations are kept.")
            .await?;
        // The subscriptions are gone; nothing of it is stored.
        sb.twitter
            .consumer_dm(&bo, &brand.id, "While unlinked", None)
            .map_err(anyhow::Error::msg)?;

        h.click("button", "Edit acme").await?;
        h.click("button", "Relink").await?;
        authorize_app(h).await?;
        h.wait_for_text("Twitter/X acme is relinked.").await?;
        sb.twitter
            .consumer_dm(&bo, &brand.id, "After the relink", None)
            .map_err(anyhow::Error::msg)?;
        let second = stored(h, "After the relink").await?;
        ensure!(
            first == second,
            "the relinked account's messages went to conversation {second}, not {first}"
        );
        let all = conversations(h).await?;
        ensure!(all.len() == 1, "one conversation expected: {all:?}");
        ensure!(
            !all[0].2.iter().any(|t| t == "While unlinked"),
            "a message of the unlinked account was stored: {all:?}"
        );

        // A Facebook page beside it, then the whole page at full width.
        sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
        link_facebook_page(h, "Link Acme Outdoor").await?;
        h.wait_for_text("Facebook AcmeOutdoor is linked.").await?;
        screenshots(h, "wide").await?;
        Ok(())
    })
    .await;
}

/// The wasm files this document downloaded.
async fn wasm_loaded(h: &Harness) -> Result<Vec<String>> {
    let names = h
        .browser
        .execute(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)
                .filter(p => p.endsWith('.wasm'))",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(names)?)
}

#[tokio::test]
async fn the_workspace_and_home_each_load_only_their_own_bundle() {
    let (h, _sb) = Harness::start_with_sandbox_unlinked("home-bundles", 1280)
        .await
        .unwrap();
    h.run(async |h| {
        // The agent's bundle: sign-in, then the workspace without a reload.
        sign_in_admin(h).await?;
        let home = wasm_loaded(h).await?;
        ensure!(
            home.len() == 1 && home[0].starts_with("/admin/admin-"),
            "Home loaded {home:?}, not the admin's bundle alone"
        );
        // And back: the navigation's link leads to the agent's bundle again.
        h.click("link", "Workspace").await?;
        h.wait_for_path("/workspace").await?;
        h.by_role("heading", "Queue").await?;
        let workspace = wasm_loaded(h).await?;
        ensure!(
            workspace.len() == 1 && workspace[0].starts_with("/widget-"),
            "the workspace loaded {workspace:?}, not the agent's bundle alone"
        );
        // A page of neither is the agent's "page not found", reached without a loop.
        h.open("/nowhere").await?;
        h.wait_for_text("Page not found").await
    })
    .await;
}

#[tokio::test]
async fn agents_find_no_way_into_home() {
    let (h, _sb) = Harness::start_with_sandbox("home-agent", 360)
        .await
        .unwrap();
    h.run(async |h| {
        h.sign_in("1000", "agent@demo.example", "demo-agent")
            .await?;
        h.wait_for_path("/workspace").await?;
        ensure!(
            h.count_role("link", "SocialConnect Home").await? == 0,
            "an agent sees the link to Home"
        );
        h.open("/home").await?;
        h.wait_for_path("/workspace").await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn send_image_switched_off_hides_add_image() {
    let (h, sb) = Harness::start_with_sandbox("home-send-image", 1280)
        .await
        .unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook
        .consumer_message(&page, &ann, "Can you show me?", &[]);
    h.run(async |h| {
        h.sign_in("1000", "admin@demo.example", "demo-admin")
            .await?;
        h.wait_for_path("/workspace").await?;
        h.open_conversation("Ann Lee").await?;
        h.wait_for_text("Can you show me?").await?;
        h.by_role("button", "Add Image").await?;

        h.click("link", "SocialConnect Home").await?;
        h.click("checkbox", "Send Image").await?;
        h.wait_for_text("Send Image is off.").await?;
        h.wait_for_text("Send Image off").await?; // the audit log

        h.click("link", "Workspace").await?;
        h.open_conversation("Ann Lee").await?;
        h.wait_for_text("Can you show me?").await?;
        ensure!(
            h.count_role("button", "Add Image").await? == 0,
            "Add Image is still offered"
        );
        Ok(())
    })
    .await;
}
