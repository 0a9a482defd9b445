//! Onboarding in headless Chromium: a brand finds SocialConnect (signed in through the
//! header's quick launch, or signed out on the public marketing page), signs up, chats
//! with support — messages arriving live both ways — and once support enables the
//! account, the admin follows the link to SocialConnect Home.

use anyhow::{Context, Result, ensure};
use e2e::Harness;
use serde_json::{Value, json};
use server::store::SqliteStore;
use server::store::prelude::*;

const ACCOUNT: &str = "2000";
const ADMIN_EMAIL: &str = "admin@northwind.example";
const ADMIN_PASSWORD: &str = "northwind-admin";
const SUPPORT: (&str, &str) = ("support@socialconnect.example", "demo-support");

/// A brand account whose SocialConnect is not enabled, with its admin.
async fn seed_northwind(h: &Harness) -> Result<()> {
    let store = SqliteStore::open(h.data_dir()).await?;
    let account = store.ensure_account(ACCOUNT, "Northwind", false).await?;
    server::auth::create_user(
        &store,
        Some(account.id),
        ADMIN_EMAIL,
        "Nora Northwind",
        shared::Role::Admin,
        ADMIN_PASSWORD,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .context("a new admin")?;
    Ok(())
}

/// Someone using the API as the browser does: a cookie and the CSRF token.
struct ApiUser {
    http: reqwest::Client,
    csrf: String,
    url: String,
}

impl ApiUser {
    async fn sign_in(url: &str, account: &str, email: &str, password: &str) -> Result<ApiUser> {
        let http = reqwest::Client::builder().cookie_store(true).build()?;
        let me: Value = http
            .post(format!("{url}/api/session"))
            .json(&json!({"account_number": account, "email": email, "password": password}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(ApiUser {
            http,
            csrf: me["csrf_token"].as_str().context("csrf")?.to_owned(),
            url: url.to_owned(),
        })
    }

    async fn get(&self, path: &str) -> Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        Ok(self
            .http
            .post(format!("{}{path}", self.url))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Support's view of account 2000's request.
    async fn northwind_request(&self) -> Result<Value> {
        let list = self.get("/api/onboarding/requests").await?;
        list.as_array()
            .context("a list")?
            .iter()
            .find(|r| r["account_number"] == ACCOUNT)
            .cloned()
            .context("support sees account 2000's request")
    }
}

/// The chat shows no element a message could have smuggled in.
async fn no_markup_in_chat(h: &Harness) -> Result<()> {
    let n = h
        .browser
        .execute(
            "return document.querySelectorAll('.sc-chat__text *, .sc-chat__log script, .sc-chat__log b').length",
            vec![],
        )
        .await?;
    ensure!(n == json!(0), "a chat message became markup: {n}");
    Ok(())
}

#[tokio::test]
async fn signed_in_admin_signs_up_chats_live_with_support_who_enables_then_home() {
    let h = Harness::start("onboarding-signed-in", 1280).await.unwrap();
    seed_northwind(&h).await.unwrap();
    h.run(async |h| {
        h.sign_in(ACCOUNT, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        h.wait_for_path("/workspace").await?;

        // Quick launch → the marketing page → Sign Up → Thank You.
        h.click("button", "Quick launch").await?;
        h.click("link", "SocialConnect").await?;
        h.wait_for_path("/socialconnect").await?;
        h.by_role("heading", "Customer care on Facebook and Twitter/X")
            .await?;
        h.wait_for_text("Sign up Northwind (account 2000)").await?;
        h.screenshot("marketing-wide").await?;
        h.click("button", "Sign Up").await?;
        h.wait_for_path("/socialconnect/thank-you").await?;
        h.by_role("heading", "Thank you").await?;
        h.wait_for_text("Waiting for support").await?;
        h.wait_for_text("Thank you for signing up for SocialConnect, Northwind")
            .await?;

        // The admin writes; markup stays text.
        let hostile = "<b>Hello</b> <script>document.title='x'</script>support";
        h.fill("Message to support", hostile).await?;
        h.click("button", "Send").await?;
        h.wait_for_text(hostile).await?;
        no_markup_in_chat(h).await?;
        h.screenshot("thank-you-wide").await?;

        // Support sees it and answers; the answer arrives without a reload.
        let support = ApiUser::sign_in(&h.url, "", SUPPORT.0, SUPPORT.1).await?;
        let request = support.northwind_request().await?;
        let id = request["id"].as_i64().context("id")?;
        ensure!(request["last_author"] == "brand", "{request}");
        let chat = support
            .get(&format!("/api/onboarding/requests/{id}"))
            .await?;
        ensure!(
            chat["messages"][1]["text"] == hostile,
            "support reads it as written: {chat}"
        );
        support
            .post(
                &format!("/api/onboarding/requests/{id}/messages"),
                json!({"text": "Hi Nora, support here. We will set you up today."}),
            )
            .await?;
        h.wait_for_text("Hi Nora, support here. We will set you up today.")
            .await?;
        h.wait_for_text("(support)").await?;

        // Now support, in the browser: the request, the chat live, Enable.
        h.click("button", "Sign out").await?;
        h.wait_for_path("/login").await?;
        h.sign_in("", SUPPORT.0, SUPPORT.1).await?;
        h.wait_for_path("/workspace").await?;
        h.click("button", "Quick launch").await?;
        h.click("link", "Sign-up requests").await?;
        h.wait_for_path("/support/sign-ups").await?;
        h.click("link", "Northwind · 2000").await?;
        h.by_role("heading", "Northwind — account 2000").await?;
        h.wait_for_text(hostile).await?;
        no_markup_in_chat(h).await?;
        let admin = ApiUser::sign_in(&h.url, ACCOUNT, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        admin
            .post(
                &format!("/api/onboarding/requests/{id}/messages"),
                json!({"text": "Great, thanks! Is it on yet?"}),
            )
            .await?;
        h.wait_for_text("Great, thanks! Is it on yet?").await?;
        h.fill("Reply", "Turning it on now.").await?;
        h.click("button", "Send").await?;
        h.wait_for_text("Turning it on now.").await?;
        h.click("button", "Enable").await?;
        let home = format!("{}/home", h.url);
        h.wait_for_text(&format!("link sent: {home}")).await?;
        ensure!(h.count_role("button", "Enable").await? == 0, "Enable stays");
        h.screenshot("support-wide").await?;
        let mine = admin.get("/api/session").await?;
        ensure!(
            mine["account"]["socialconnect_enabled"] == true,
            "the account is enabled: {mine}"
        );

        // The admin finds the link in the chat and follows it to SocialConnect Home.
        h.click("button", "Sign out").await?;
        h.wait_for_path("/login").await?;
        h.sign_in(ACCOUNT, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        h.wait_for_path("/workspace").await?;
        h.open("/socialconnect/thank-you").await?;
        h.wait_for_text("Turning it on now.").await?;
        h.wait_for_text("SocialConnect is enabled for account 2000")
            .await?;
        h.by_role("link", "Open SocialConnect Home").await?;
        h.click("link", &home).await?;
        h.wait_for_path("/home").await?;
        h.by_role("heading", "SocialConnect Home").await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn signed_out_visitor_gives_the_account_number_signs_in_and_lands_on_thank_you() {
    let h = Harness::start("onboarding-signed-out", 360).await.unwrap();
    seed_northwind(&h).await.unwrap();
    h.run(async |h| {
        h.open("/socialconnect").await?;
        h.by_role("heading", "Customer care on Facebook and Twitter/X")
            .await?;
        h.screenshot("marketing-360").await?;
        // Not an account number: said so, and nowhere to go.
        h.fill("Account number", "20 00").await?;
        h.click("button", "Proceed to Login").await?;
        h.by_role(
            "alert",
            "an account number has only letters, digits and dashes",
        )
        .await?;
        ensure!(
            h.path().await? == "/socialconnect",
            "left with a bad number"
        );

        h.fill("Account number", ACCOUNT).await?;
        h.click("button", "Proceed to Login").await?;
        h.wait_for_path("/login").await?;
        let filled = h
            .by_role("textbox", "Account number")
            .await?
            .prop("value")
            .await?;
        ensure!(
            filled.as_deref() == Some(ACCOUNT),
            "account number filled in: {filled:?}"
        );
        h.fill("Email", ADMIN_EMAIL).await?;
        h.fill("Password", ADMIN_PASSWORD).await?;
        h.click("button", "Sign in").await?;
        h.wait_for_path("/socialconnect/thank-you").await?;
        h.by_role("heading", "Thank you").await?;
        h.wait_for_text("Waiting for support").await?;
        h.wait_for_text("Thank you for signing up for SocialConnect, Northwind")
            .await?;
        h.screenshot("thank-you-360").await?;

        // The request was made for that account; support answers and enables, and the
        // page shows both without a reload.
        let support = ApiUser::sign_in(&h.url, "", SUPPORT.0, SUPPORT.1).await?;
        let request = support.northwind_request().await?;
        let id = request["id"].as_i64().context("id")?;
        ensure!(
            request["requested_by"]
                .as_str()
                .is_some_and(|r| r.contains(ADMIN_EMAIL))
        );
        support
            .post(
                &format!("/api/onboarding/requests/{id}/messages"),
                json!({"text": "Welcome, Northwind!"}),
            )
            .await?;
        h.wait_for_text("Welcome, Northwind!").await?;
        support
            .post(&format!("/api/onboarding/requests/{id}/enable"), json!({}))
            .await?;
        h.wait_for_text("SocialConnect is enabled for account 2000")
            .await?;
        h.screenshot("thank-you-enabled-360").await?;
        h.click("link", "Open SocialConnect Home").await?;
        h.wait_for_path("/home").await?;
        h.by_role("heading", "SocialConnect Home").await?;
        Ok(())
    })
    .await;
}
