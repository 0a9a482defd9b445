//! People in SocialConnect Home, in real browsers: an admin invites an agent, who chooses a
//! password through the one-time link (refused when too short or equal to their email) and
//! lands in the workspace; deactivated while the workspace is open, the agent's page shows
//! the sign-in page without a reload; the only admin can be neither demoted nor
//! deactivated, and the page says why.

use anyhow::{Context, Result, bail, ensure};
use e2e::Harness;
use serde_json::json;
use std::time::Duration;

const NEW_AGENT_EMAIL: &str = "sam.ortiz@demo.example";
const NEW_AGENT_NAME: &str = "Sam Ortiz";
const GOOD_PASSWORD: &str = "larch canoe 47 thunder";
/// The sign-in page's path.
const SIGN_IN: &str = "/login";

/// Signs in as the demo admin and opens SocialConnect Home at its People section.
async fn admin_opens_people(h: &Harness) -> Result<()> {
    h.sign_in("1000", "admin@demo.example", "demo-admin")
        .await?;
    h.wait_for_path("/workspace").await?;
    h.click("link", "SocialConnect Home").await?;
    h.wait_for_path("/home").await?;
    h.by_role("heading", "People").await?;
    Ok(())
}

/// Invites [`NEW_AGENT_NAME`] as an agent in the People section; returns the one-time link
/// as an address on the test's server (path and query).
async fn invite_agent(h: &Harness) -> Result<String> {
    h.fill("Email", NEW_AGENT_EMAIL).await?;
    h.fill("Name", NEW_AGENT_NAME).await?;
    h.by_role("combobox", "Role")
        .await?
        .select_by_value("agent")
        .await?;
    h.click("button", "Invite").await?;
    h.wait_for_text(&format!("{NEW_AGENT_NAME} is invited."))
        .await?;
    h.wait_for_text("72 hours").await?;
    h.by_role("button", "Copy link").await?;
    let link = h
        .by_role("textbox", "Set-password link")
        .await?
        .prop("value")
        .await?
        .context("the link field has no value")?;
    let url = reqwest::Url::parse(&link).with_context(|| format!("the link {link:?}"))?;
    ensure!(
        url.path() == shared::api::SET_PASSWORD_PATH,
        "the link {link} does not open the set-password page"
    );
    ensure!(
        url.query_pairs()
            .any(|(k, v)| k == "token" && !v.is_empty()),
        "the link {link} carries no token"
    );
    // The table shows them invited, never signed in.
    h.by_role_in_row("button", "Deactivate", NEW_AGENT_EMAIL)
        .await?;
    h.wait_for_text("Invited").await?;
    Ok(format!(
        "{}?{}",
        url.path(),
        url.query().unwrap_or_default()
    ))
}

/// Waits until a visible alert (inside the section headed `section`, when given) says
/// something containing `words` (any case); returns its text.
async fn alert_saying(h: &Harness, section: Option<&str>, words: &str) -> Result<String> {
    const ALERTS: &str = r#"
        const [section] = arguments;
        const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
        const inSection = (el) => {
            if (section == null) return true;
            const s = el.closest('section');
            const h = s && s.querySelector('h2');
            return !!h && h.textContent.trim() === section;
        };
        return [...document.querySelectorAll('[role=alert]')]
            .filter((el) => visible(el) && inSection(el))
            .map((el) => el.textContent.replace(/\s+/g, ' ').trim());
    "#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let shown: Vec<String> =
            serde_json::from_value(h.browser.execute(ALERTS, vec![json!(section)]).await?)?;
        if let Some(text) = shown
            .iter()
            .find(|t| t.to_lowercase().contains(&words.to_lowercase()))
        {
            return Ok(text.clone());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("expected an alert saying {words:?}; the alerts shown: {shown:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// On the set-password page, types `password` and presses Set password.
async fn choose_password(agent: &Harness, password: &str) -> Result<()> {
    agent.fill("New password", password).await?;
    agent.click("button", "Set password").await
}

/// Opens the link in the agent's browser and sets [`GOOD_PASSWORD`]: signed in, in the
/// workspace.
async fn agent_joins(agent: &Harness, link: &str) -> Result<()> {
    agent.open(link).await?;
    agent.by_role("heading", "Choose your password").await?;
    choose_password(agent, GOOD_PASSWORD).await?;
    agent.wait_for_path("/workspace").await?;
    agent.wait_for_text(NEW_AGENT_NAME).await
}

#[tokio::test]
async fn an_invited_agent_chooses_a_password_through_the_link_and_lands_signed_in() {
    let h = Harness::start("people-invite", 1280).await.unwrap();
    h.run(async |h| {
        admin_opens_people(h).await?;
        let link = invite_agent(h).await?;
        h.screenshot("invited").await?;

        let agent = h.another_browser("people-invite-agent", 360).await?;
        agent
            .run_within(async |agent| {
                agent.open(link.as_str()).await?;
                agent.by_role("heading", "Choose your password").await?;
                agent.wait_for_text(shared::api::PASSWORD_RULES).await?;

                choose_password(agent, "short-1").await?;
                alert_saying(agent, None, &shared::api::PASSWORD_MIN_CHARS.to_string()).await?;
                ensure!(
                    agent.path().await? == shared::api::SET_PASSWORD_PATH,
                    "a too-short password was accepted"
                );
                choose_password(agent, NEW_AGENT_EMAIL).await?;
                alert_saying(agent, None, "email").await?;
                ensure!(
                    agent.path().await? == shared::api::SET_PASSWORD_PATH,
                    "their email was accepted as a password"
                );
                agent.screenshot("refused").await?;

                choose_password(agent, GOOD_PASSWORD).await?;
                agent.wait_for_path("/workspace").await?;
                agent.by_role("heading", "Workspace").await?;
                agent.wait_for_text(NEW_AGENT_NAME).await?;
                // Signed in for good: a reload keeps the session.
                agent.open("/workspace").await?;
                agent.by_role("heading", "Workspace").await?;
                agent.wait_for_text(NEW_AGENT_NAME).await?;

                // The link was for a single use.
                agent.open(link.as_str()).await?;
                choose_password(agent, "another good passphrase 9").await?;
                alert_saying(agent, None, "ask your admin").await?;
                Ok(())
            })
            .await?;

        // The admin's table, fetched again, shows them active.
        h.open("/home").await?;
        h.by_role("heading", "People").await?;
        h.by_role_in_row("button", "Deactivate", NEW_AGENT_EMAIL)
            .await?;
        let row_text = h
            .browser
            .execute(
                "return [...document.querySelectorAll('tr')].map(r => r.textContent)
                    .find(t => t.includes(arguments[0])) || ''",
                vec![json!(NEW_AGENT_EMAIL)],
            )
            .await?;
        let row_text = row_text.as_str().unwrap_or_default();
        ensure!(
            row_text.contains("Active"),
            "the new agent's row says {row_text:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_deactivated_agent_is_signed_out_of_the_open_workspace_without_a_reload() {
    let h = Harness::start("people-deactivate", 360).await.unwrap();
    h.run(async |h| {
        admin_opens_people(h).await?;
        let link = invite_agent(h).await?;
        let agent = h.another_browser("people-deactivate-agent", 360).await?;
        agent
            .run_within(async |agent| {
                agent_joins(agent, &link).await?;
                agent.by_role("heading", "Queue").await?;
                // Gone on a page load: its survival shows the page was never reloaded.
                agent
                    .browser
                    .execute("window.__e2eSamePage = true", vec![])
                    .await?;

                h.by_role_in_row("button", "Deactivate", NEW_AGENT_EMAIL)
                    .await?
                    .click()
                    .await?;
                h.wait_for_text(&format!(
                    "{NEW_AGENT_NAME} is deactivated; their sessions have ended."
                ))
                .await?;
                h.by_role_in_row("button", "Reactivate", NEW_AGENT_EMAIL)
                    .await?;
                h.wait_for_text("Deactivated").await?;

                agent.wait_for_path(SIGN_IN).await?;
                agent.by_role("button", "Sign in").await?;
                let same = agent
                    .browser
                    .execute("return window.__e2eSamePage === true", vec![])
                    .await?;
                ensure!(same == json!(true), "the agent's page was reloaded");
                agent.screenshot("signed-out").await?;

                // Deactivated, they cannot sign in again…
                agent
                    .sign_in("1000", NEW_AGENT_EMAIL, GOOD_PASSWORD)
                    .await?;
                alert_saying(agent, None, "").await?;
                ensure!(
                    agent.path().await? == SIGN_IN,
                    "a deactivated agent signed in"
                );

                // …until reactivated.
                h.by_role_in_row("button", "Reactivate", NEW_AGENT_EMAIL)
                    .await?
                    .click()
                    .await?;
                h.wait_for_text(&format!("{NEW_AGENT_NAME} is reactivated."))
                    .await?;
                agent
                    .sign_in("1000", NEW_AGENT_EMAIL, GOOD_PASSWORD)
                    .await?;
                agent.wait_for_path("/workspace").await?;
                Ok(())
            })
            .await
    })
    .await;
}

#[tokio::test]
async fn the_only_admin_can_be_neither_demoted_nor_deactivated() {
    let h = Harness::start("people-last-admin", 360).await.unwrap();
    h.run(async |h| {
        admin_opens_people(h).await?;
        let role = h.by_role("combobox", "Role for Dana Admin").await?;
        role.select_by_value("agent").await?;
        alert_saying(h, Some("People"), "last admin").await?;
        // The table shows again what the server kept.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let value = h
                .by_role("combobox", "Role for Dana Admin")
                .await?
                .prop("value")
                .await?;
            if value.as_deref() == Some("admin") {
                break;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the role select still shows {value:?} after the refusal"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        h.by_role_in_row("button", "Deactivate", "admin@demo.example")
            .await?
            .click()
            .await?;
        alert_saying(h, Some("People"), "last admin").await?;
        h.by_role_in_row("button", "Deactivate", "admin@demo.example")
            .await?;
        h.screenshot("last-admin").await?;
        // Still signed in and still an admin.
        h.open("/home").await?;
        h.by_role("heading", "People").await?;
        Ok(())
    })
    .await;
}
