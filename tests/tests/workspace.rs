//! The agent workspace in headless Chromium: consumer lines arrive through signed webhooks
//! and show up live, tagged, and as text even when they look like markup.

use anyhow::ensure;
use e2e::{Harness, messenger, page_post};
use fantoccini::Locator;

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

async fn sign_in_agent(h: &Harness) -> anyhow::Result<()> {
    h.sign_in("1000", "agent@demo.example", "demo-agent")
        .await?;
    h.wait_for_path("/workspace").await?;
    h.wait_for_text("No new conversations.").await?;
    // The stream is open before the network speaks, so the line arrives live.
    h.wait_for_text("Live").await
}

#[tokio::test]
async fn a_consumer_line_arrives_live_and_reads_as_text() {
    Harness::start_with_webhooks("workspace", 1280)
        .await
        .unwrap()
        .run(async |h| {
            sign_in_agent(h).await?;
            h.facebook_webhook(&page_post(
                "ANN",
                "Ann Lee",
                "1",
                1_795_600_000,
                "My tent zip broke on the first night. Can you help?",
            ))
            .await?;
            // No reload: the queue refetches on the server's event.
            h.wait_for_text("My tent zip broke on the first night")
                .await?;
            h.click("link", "Open conversation with Ann Lee").await?;
            h.by_role("heading", "Ann Lee").await?;
            h.wait_for_text("Public/Post").await?;

            h.facebook_webhook(&messenger("ANN", "m.1", 1_795_600_060_000, HOSTILE))
                .await?;
            h.wait_for_text(HOSTILE).await?;
            h.wait_for_text("Private").await?;
            ensure!(
                h.browser.get_alert_text().await.is_err(),
                "an alert opened: consumer text ran as markup"
            );
            let injected = h
                .browser
                .find_all(Locator::Css(
                    ".sc-transcript script, .sc-transcript img[src='x']",
                ))
                .await?;
            ensure!(injected.is_empty(), "consumer text became elements");

            h.click("button", "Take").await?;
            h.wait_for_text("Assigned to you").await?;
            h.click("button", "Mine").await?;
            h.by_role("link", "Open conversation with Ann Lee").await?;
            let reply = h.by_role("textbox", "Reply").await?;
            ensure!(
                reply.is_enabled().await?,
                "the reply box is open for typing"
            );
            h.screenshot("1280").await?;

            h.click("button", "Close").await?;
            h.wait_for_text("No conversations assigned to you.").await?;
            ensure!(h.browser.get_alert_text().await.is_err(), "an alert opened");
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn the_workspace_fits_a_narrow_panel() {
    Harness::start_with_webhooks("workspace", 360)
        .await
        .unwrap()
        .run(async |h| {
            sign_in_agent(h).await?;
            h.facebook_webhook(&page_post(
                "BRU",
                "Bruno Diaz",
                "2",
                1_795_600_000,
                "Do you ship to the Azores?",
            ))
            .await?;
            h.facebook_webhook(&page_post(
                "ANN",
                "Ann Lee",
                "1",
                1_795_600_100,
                "My tent zip broke on the first night. Can you help?",
            ))
            .await?;
            h.wait_for_text("Do you ship to the Azores?").await?;
            h.wait_for_text("My tent zip broke").await?;
            h.screenshot("360-queue").await?;
            h.click("link", "Open conversation with Ann Lee").await?;
            h.by_role("heading", "Ann Lee").await?;
            h.facebook_webhook(&messenger("ANN", "m.2", 1_795_600_200_000, HOSTILE))
                .await?;
            h.wait_for_text(HOSTILE).await?;
            h.screenshot("360").await?;
            h.click("link", "Back to queue").await?;
            h.by_role("link", "Open conversation with Bruno Diaz")
                .await?;
            Ok(())
        })
        .await;
}
