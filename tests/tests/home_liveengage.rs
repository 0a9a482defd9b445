//! SocialConnect Home's LiveEngage section in a real browser: an admin connects the brand
//! to the sandbox's LiveEngage account (credentials LiveEngage refuses are not saved), the
//! section shows the webhook URL for the app's installation and keeps the secret to itself,
//! and Remove disconnects.

use anyhow::ensure;
use e2e::Harness;

#[tokio::test]
async fn an_admin_connects_and_disconnects_liveengage_in_home() {
    let (h, sb) = Harness::start_with_sandbox_unlinked("home-liveengage", 1280)
        .await
        .unwrap();
    let c = sb.credentials.clone();
    h.run(async |h| {
        h.sign_in("1000", "admin@demo.example", "demo-admin")
            .await?;
        h.wait_for_path("/workspace").await?;
        h.click("link", "SocialConnect Home").await?;
        h.wait_for_path("/home").await?;
        h.by_role("heading", "LiveEngage").await?;
        ensure!(
            h.count_role("button", "Remove LiveEngage").await? == 0,
            "Remove offered before anything is connected"
        );
        h.fill("LiveEngage account id", &c.liveengage_account_id)
            .await?;
        h.fill("LiveEngage client ID", &c.liveengage_client_id)
            .await?;
        h.fill("LiveEngage client secret", "not-the-secret").await?;
        h.click("button", "Save LiveEngage").await?;
        h.wait_for_text("LiveEngage did not accept the app").await?;
        ensure!(
            h.count_role("button", "Remove LiveEngage").await? == 0,
            "refused credentials were saved"
        );

        h.fill("LiveEngage client secret", &c.liveengage_client_secret)
            .await?;
        h.fill("LiveEngage skill ids", "social=77").await?;
        h.click("button", "Save LiveEngage").await?;
        h.wait_for_text("LiveEngage is connected.").await?;
        h.wait_for_text(&format!("{}/webhooks/liveengage", h.url))
            .await?;
        let secret = h.by_role("textbox", "LiveEngage client secret").await?;
        ensure!(
            secret.prop("value").await?.unwrap_or_default().is_empty(),
            "the secret came back to the page"
        );
        ensure!(
            secret.attr("placeholder").await?.as_deref() == Some("stored — leave empty to keep"),
            "the stored secret is not said to be kept"
        );
        // The audit log says who connected it.
        h.wait_for_text("connected LiveEngage").await?;

        h.click("button", "Remove LiveEngage").await?;
        h.wait_for_text("LiveEngage is disconnected.").await?;
        ensure!(
            h.count_role("button", "Remove LiveEngage").await? == 0,
            "still connected"
        );
        Ok(())
    })
    .await;
    sb.stop().await;
}
