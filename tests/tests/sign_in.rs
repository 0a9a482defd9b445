//! Signing in through the real SPA in headless Chromium.

use e2e::Harness;

#[tokio::test]
async fn demo_admin_signs_in_and_reaches_socialconnect_home() {
    Harness::start("admin-sign-in", 1280)
        .await
        .unwrap()
        .run(async |h| {
            h.sign_in("1000", "admin@demo.example", "demo-admin")
                .await?;
            h.wait_for_path("/workspace").await?;
            h.by_role("heading", "Workspace").await?;
            h.wait_for_text("Dana Admin").await?;
            h.click("link", "SocialConnect Home").await?;
            h.wait_for_path("/home").await?;
            h.by_role("heading", "SocialConnect Home").await?;
            h.wait_for_text("Account 1000").await?;
            h.screenshot("home").await?;

            // Reloading keeps the session; signing out ends it.
            h.open("/home").await?;
            h.by_role("heading", "SocialConnect Home").await?;
            h.click("button", "Sign out").await?;
            h.wait_for_path("/login").await?;
            h.open("/workspace").await?;
            h.wait_for_path("/login").await
        })
        .await;
}

#[tokio::test]
async fn demo_agent_signs_in_without_admin_pages_in_a_narrow_panel() {
    Harness::start("agent-sign-in", 360)
        .await
        .unwrap()
        .run(async |h| {
            h.sign_in("1000", "agent@demo.example", "demo-agent")
                .await?;
            h.wait_for_path("/workspace").await?;
            h.wait_for_text("Alex Agent").await?;
            h.screenshot("workspace-360").await?;
            anyhow::ensure!(
                h.count_role("link", "SocialConnect Home").await? == 0,
                "an agent is offered SocialConnect Home"
            );
            // Typing the address does not get an agent in either.
            h.open("/home").await?;
            h.wait_for_path("/workspace").await
        })
        .await;
}

#[tokio::test]
async fn a_wrong_password_gets_a_clear_error() {
    Harness::start("wrong-password", 360)
        .await
        .unwrap()
        .run(async |h| {
            h.sign_in("1000", "admin@demo.example", "not-the-password")
                .await?;
            let alert = h
                .by_role("alert", "wrong account number, email or password")
                .await?;
            anyhow::ensure!(alert.text().await?.contains("wrong"));
            h.screenshot("wrong-password").await?;
            anyhow::ensure!(h.path().await? == "/login", "left the sign-in page");
            Ok(())
        })
        .await;
}
