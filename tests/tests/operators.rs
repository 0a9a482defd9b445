//! A real team starts without the demo: an operator creates a brand account without
//! SocialConnect and its admin, and a support person (`socialconnect accounts create`,
//! `users add`, run beside the server as an operator would); each chooses a password
//! through their one-time link; the admin signs up on the marketing page, support enables
//! the account, and the admin links a Facebook page in SocialConnect Home.

use anyhow::{Context, Result, ensure};
use e2e::Harness;
use std::time::Duration;

const ACCOUNT: &str = "3000";
const PASSWORD: &str = "a long and unusual passphrase";

/// Runs `socialconnect WORDS…` on the harness' data, as an operator beside the server:
/// its stdout.
async fn operator(h: &Harness, words: &[&str]) -> Result<String> {
    let data = h.data_dir().display().to_string();
    let mut all: Vec<&str> = words.to_vec();
    all.extend(["--data-dir", &data]);
    if words.starts_with(&["users", "add"]) {
        all.extend(["--public-url", &h.url]);
    }
    server::people_cmd::run(&all).await
}

/// Opens a one-time link (as a path on the server) and chooses [`PASSWORD`].
async fn join(h: &Harness, link: &str) -> Result<()> {
    let url = reqwest::Url::parse(link.trim()).with_context(|| format!("{link:?}"))?;
    h.open(&format!(
        "{}?{}",
        url.path(),
        url.query().unwrap_or_default()
    ))
    .await?;
    h.fill("New password", PASSWORD).await?;
    h.click("button", "Set password").await?;
    h.wait_for_path("/workspace").await
}

/// Waits for the browser's address to end with `suffix` (a network's page).
async fn arrive(h: &Harness, suffix: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !h.path().await?.ends_with(suffix) {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "expected to reach …{suffix}, still at {}",
            h.path().await?
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_operators_brand_signs_up_support_enables_it_and_its_admin_links_a_page() {
    let (h, sb) = Harness::start_with_sandbox_unlinked("operators", 1280)
        .await
        .unwrap();
    sb.facebook.add_page("Fabrikam", "Fabrikam");
    h.run(async |h| {
        let said = operator(
            h,
            &[
                "accounts",
                "create",
                "--account",
                ACCOUNT,
                "--name",
                "Fabrikam",
            ],
        )
        .await?;
        ensure!(said.contains("not enabled"), "{said}");
        let admin_link = operator(
            h,
            &[
                "users",
                "add",
                "--account",
                ACCOUNT,
                "--email",
                "fay@fabrikam.example",
                "--name",
                "Fay",
                "--role",
                "admin",
            ],
        )
        .await?;
        let support_link = operator(
            h,
            &[
                "users",
                "add",
                "--support",
                "--email",
                "sol@sc.example",
                "--name",
                "Sol",
            ],
        )
        .await?;

        // The admin chooses a password and signs up; linking waits for support.
        join(h, &admin_link).await?;
        h.click("button", "Quick launch").await?;
        h.click("link", "SocialConnect").await?;
        h.wait_for_path("/socialconnect").await?;
        h.wait_for_text("Sign up Fabrikam (account 3000)").await?;
        h.click("button", "Sign Up").await?;
        h.wait_for_path("/socialconnect/thank-you").await?;
        h.wait_for_text("Waiting for support").await?;

        // Support, made by the operator, enables it.
        let support = h.another_browser("operators-support", 1280).await?;
        support
            .run_within(async |s| {
                join(s, &support_link).await?;
                s.click("button", "Quick launch").await?;
                s.click("link", "Sign-up requests").await?;
                s.wait_for_path("/support/sign-ups").await?;
                s.click("link", "Fabrikam · 3000").await?;
                s.click("button", "Enable").await?;
                s.wait_for_text("link sent").await
            })
            .await?;

        // The admin links the page through Facebook Login.
        h.open("/home").await?;
        h.by_role("heading", "SocialConnect Home").await?;
        h.click("button", "Add Account").await?;
        h.click("button", "Facebook").await?;
        arrive(h, "/dialog/oauth").await?;
        h.click("button", "Continue").await?;
        h.wait_for_path("/home").await?;
        h.click("button", "Link Fabrikam").await?;
        h.wait_for_text("Facebook Fabrikam is linked.").await?;
        h.screenshot("linked").await?;
        let listed = operator(h, &["users", "list", "--account", ACCOUNT]).await?;
        ensure!(listed.contains("\"status\":\"active\""), "{listed}");
        Ok(())
    })
    .await;
}
