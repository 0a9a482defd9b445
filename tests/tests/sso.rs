//! Single sign-on in real browsers: an admin sets up the brand's OpenID Connect provider
//! (the sandbox's) in SocialConnect Home; a person then types the account number, takes
//! `Sign in with single sign-on`, signs in at the provider and lands in the workspace. A
//! forged and a replayed ID token sign no one in: the sign-in page says why.

use anyhow::{Result, bail, ensure};
use e2e::Harness;
use serde_json::json;
use std::time::Duration;

const AGENT_EMAIL: &str = "agent@demo.example";
const SIGN_IN: &str = "/login";

/// Copies a screenshot the harness saved to `/tmp/ui2-shots/` for a look by eye.
fn keep_shot(path: &std::path::Path) -> Result<()> {
    let dir = std::path::Path::new("/tmp/ui2-shots");
    std::fs::create_dir_all(dir)?;
    if let Some(name) = path.file_name() {
        std::fs::copy(path, dir.join(name))?;
    }
    Ok(())
}

/// Signs in as the demo admin, opens Home and sets up the sandbox's provider.
async fn admin_sets_up_sso(h: &Harness, sb: &sandbox::Sandbox) -> Result<()> {
    h.sign_in("1000", "admin@demo.example", "demo-admin")
        .await?;
    h.wait_for_path("/workspace").await?;
    h.click("link", "SocialConnect Home").await?;
    h.wait_for_path("/home").await?;
    h.by_role("heading", "Single sign-on").await?;
    // Not set up yet: nothing to remove.
    ensure!(
        h.count_role("button", "Remove single sign-on").await? == 0,
        "Remove offered before anything is set up"
    );
    h.fill("Issuer", &sb.oidc.issuer()).await?;
    h.fill("Client ID", sb.oidc.client_id()).await?;
    h.fill("Client secret", sb.oidc.client_secret()).await?;
    let allow = h.by_role("checkbox", "Allow password sign-in").await?;
    ensure!(
        allow.prop("checked").await?.as_deref() == Some("true"),
        "password sign-in is not allowed by default"
    );
    h.click("button", "Save single sign-on").await?;
    h.wait_for_text("Single sign-on is saved.").await?;
    // The URI to register at the provider is the one the provider sends people back to.
    h.wait_for_text(&sb.oidc.redirect_uri()).await?;
    h.by_role("button", "Remove single sign-on").await?;
    let placeholder = h
        .by_role("textbox", "Client secret")
        .await?
        .attr("placeholder")
        .await?;
    ensure!(
        placeholder.as_deref() == Some("stored — leave empty to keep"),
        "the stored secret's field says {placeholder:?}"
    );
    ensure!(
        h.by_role("textbox", "Client secret")
            .await?
            .prop("value")
            .await?
            .unwrap_or_default()
            .is_empty(),
        "the secret came back to the page"
    );
    Ok(())
}

/// On the sign-in page, types the account number and email and takes single sign-on to
/// the provider, where it presses Continue as the person.
async fn sign_in_through_provider(person: &Harness) -> Result<()> {
    person.open(SIGN_IN).await?;
    person.fill("Account number", "1000").await?;
    // Leaving the account number's field asks how that account signs in.
    person.fill("Email", AGENT_EMAIL).await?;
    let link = person
        .by_role("link", "Sign in with single sign-on")
        .await?;
    let href = link.attr("href").await?.unwrap_or_default();
    ensure!(
        href.starts_with("/sso/start?account=1000&login_hint=agent%40demo.example"),
        "the single sign-on link goes to {href:?}"
    );
    link.click().await?;
    // The provider's own page.
    person.by_role("button", "Continue").await?;
    person.fill("Email", AGENT_EMAIL).await?;
    person.click("button", "Continue").await
}

/// Waits for a visible alert containing `words`; its text.
async fn alert_saying(h: &Harness, words: &str) -> Result<String> {
    const ALERTS: &str = r#"
        const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
        return [...document.querySelectorAll('[role=alert]')].filter(visible)
            .map((el) => el.textContent.replace(/\s+/g, ' ').trim());
    "#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let shown: Vec<String> = serde_json::from_value(h.browser.execute(ALERTS, vec![]).await?)?;
        if let Some(text) = shown.iter().find(|t| t.contains(words)) {
            return Ok(text.clone());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("expected an alert saying {words:?}; the alerts shown: {shown:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A refused sign-in: back on the sign-in page, saying why, and signed in nowhere.
async fn refused(person: &Harness) -> Result<()> {
    person.wait_for_path(SIGN_IN).await?;
    let said = alert_saying(person, "ID token is not valid").await?;
    ensure!(!said.is_empty(), "no reason shown");
    keep_shot(&person.screenshot("refused").await?)?;
    let me = person
        .browser
        .execute("return fetch('/api/session').then((r) => r.status)", vec![])
        .await?;
    ensure!(me == json!(401), "a refused sign-in left a session ({me})");
    person.open("/workspace").await?;
    person.wait_for_path(SIGN_IN).await?;
    Ok(())
}

#[tokio::test]
async fn an_admin_sets_up_single_sign_on_and_people_sign_in_through_it() {
    let (h, sb) = Harness::start_with_sandbox_unlinked("sso", 1366)
        .await
        .unwrap();
    h.run(async |h| {
        admin_sets_up_sso(h, &sb).await?;
        h.browser
            .execute(
                "document.getElementById('sc-home-sso').scrollIntoView()",
                vec![],
            )
            .await?;
        keep_shot(&h.screenshot("home-1366").await?)?;
        let narrow = h.another_browser("sso-admin", 360).await?;
        narrow
            .run_within(async |admin| {
                admin
                    .sign_in("1000", "admin@demo.example", "demo-admin")
                    .await?;
                admin.wait_for_path("/workspace").await?;
                admin.open("/home").await?;
                admin.by_role("heading", "Single sign-on").await?;
                admin.wait_for_text("stored").await.ok();
                admin
                    .browser
                    .execute(
                        "document.getElementById('sc-home-sso').scrollIntoView()",
                        vec![],
                    )
                    .await?;
                keep_shot(&admin.screenshot("home-360").await?)?;
                Ok(())
            })
            .await?;

        let person = h.another_browser("sso-person", 360).await?;
        person
            .run_within(async |person| {
                person.open(SIGN_IN).await?;
                person.fill("Account number", "1000").await?;
                person.fill("Email", AGENT_EMAIL).await?;
                person
                    .by_role("link", "Sign in with single sign-on")
                    .await?;
                // Passwords are still allowed beside it.
                person.by_role("button", "Sign in").await?;
                keep_shot(&person.screenshot("sign-in-360").await?)?;

                sign_in_through_provider(person).await?;
                person.wait_for_path("/workspace").await?;
                person.by_role("heading", "Workspace").await?;
                person.wait_for_text("Alex Agent").await?;
                Ok(())
            })
            .await?;

        // A forged ID token, then a replayed one: refused, each in a fresh browser.
        sb.oidc.forge_next();
        let forged = h.another_browser("sso-forged", 360).await?;
        forged
            .run_within(async |person| {
                sign_in_through_provider(person).await?;
                refused(person).await?;
                Ok(())
            })
            .await?;
        sb.oidc.replay_next();
        let replayed = h.another_browser("sso-replayed", 1366).await?;
        replayed
            .run_within(async |person| {
                sign_in_through_provider(person).await?;
                refused(person).await?;
                person.fill("Account number", "1000").await?;
                person.fill("Email", AGENT_EMAIL).await?;
                person
                    .by_role("link", "Sign in with single sign-on")
                    .await?;
                keep_shot(&person.screenshot("sign-in-1366").await?)?;
                Ok(())
            })
            .await?;

        // Password sign-in switched off: the sign-in page offers single sign-on only.
        h.by_role("checkbox", "Allow password sign-in")
            .await?
            .click()
            .await?;
        h.click("button", "Save single sign-on").await?;
        h.wait_for_text("Single sign-on is saved.").await?;
        let only = h.another_browser("sso-only", 360).await?;
        only.run_within(async |person| {
            person.open(SIGN_IN).await?;
            person.fill("Account number", "1000").await?;
            person.fill("Email", AGENT_EMAIL).await?;
            person
                .by_role("link", "Sign in with single sign-on")
                .await?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while person.count_role("button", "Sign in").await? != 0
                || person.count_role("textbox", "Password").await? != 0
            {
                ensure!(
                    tokio::time::Instant::now() < deadline,
                    "password sign-in still offered"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            keep_shot(&person.screenshot("sso-only-360").await?)?;
            Ok(())
        })
        .await?;

        // Removed: nothing left to remove, and the sign-in page offers passwords again.
        h.click("button", "Remove single sign-on").await?;
        h.wait_for_text("Single sign-on is removed.").await?;
        ensure!(
            h.count_role("button", "Remove single sign-on").await? == 0,
            "Remove still offered"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_person_changes_their_password_from_the_account_menu_and_signs_out_everywhere() {
    let h = Harness::start("account-menu", 360).await.unwrap();
    h.run(async |h| {
        h.sign_in("1000", "agent@demo.example", "demo-agent")
            .await?;
        h.wait_for_path("/workspace").await?;
        // The menu is a <details>: its <summary> opens it.
        h.browser
            .find(fantoccini::Locator::Css("summary.sc-account__toggle"))
            .await?
            .click()
            .await?;
        h.wait_for_text(shared::api::PASSWORD_RULES).await?;
        h.fill("Current password", "not-it").await?;
        h.fill("New password", "larch canoe 47 thunder").await?;
        h.click("button", "Change password").await?;
        alert_saying(h, "not your current password").await?;

        h.fill("Current password", "demo-agent").await?;
        h.click("button", "Change password").await?;
        h.wait_for_text("Your password is changed").await?;
        keep_shot(&h.screenshot("account-menu-360").await?)?;

        h.click("button", "Sign out everywhere").await?;
        h.wait_for_path(SIGN_IN).await?;
        h.sign_in("1000", "agent@demo.example", "demo-agent")
            .await?;
        alert_saying(h, "").await?;
        h.sign_in("1000", "agent@demo.example", "larch canoe 47 thunder")
            .await?;
        h.wait_for_path("/workspace").await?;
        Ok(())
    })
    .await;
}
