//! Skills and transfer in real browsers: an admin gives an agent one skill in Home's People
//! section (unticking All skills), and the agent sees only that skill's conversations; a
//! conversation transferred to that skill appears in their queue, and one they transfer
//! away from their skills leaves their screen.

use anyhow::{Result, ensure};
use e2e::{Harness, page_post};
use std::time::Duration;

const AGENT_EMAIL: &str = "agent@demo.example";

/// Waits until the checkbox is (un)ticked as `want`.
async fn wait_checked(h: &Harness, name: &str, row: &str, want: bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = h
            .by_role_in_row("checkbox", name, row)
            .await?
            .prop("checked")
            .await?;
        if now.as_deref() == Some(if want { "true" } else { "false" }) {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{name} stays {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_agent_with_one_skill_sees_only_its_queue_and_what_is_transferred_to_it() {
    let h = Harness::start_with_webhooks("skills", 1280).await.unwrap();
    h.run(async |h| {
        // A consumer writes to the page, which routes to `social`.
        h.facebook_webhook(&page_post(
            "2001",
            "Ann Lee",
            "1",
            1_795_600_000,
            "My tent zip broke on the first night.",
        ))
        .await?;

        // The admin adds a skill `vip` and gives the agent that one only.
        h.sign_in("1000", "admin@demo.example", "demo-admin")
            .await?;
        h.wait_for_path("/workspace").await?;
        h.conversation_link("Ann Lee").await?;
        h.click("link", "SocialConnect Home").await?;
        h.wait_for_path("/home").await?;
        h.fill("New skill", "vip").await?;
        h.click("button", "Add skill").await?;
        h.wait_for_text("Skill vip added.").await?;
        let all = "All skills for Alex Agent";
        wait_checked(h, all, AGENT_EMAIL, true).await?;
        h.by_role_in_row("checkbox", "vip", AGENT_EMAIL)
            .await?
            .click()
            .await
            .ok(); // disabled while All skills is ticked: no change
        wait_checked(h, all, AGENT_EMAIL, true).await?;
        h.by_role_in_row("checkbox", all, AGENT_EMAIL)
            .await?
            .click()
            .await?;
        wait_checked(h, all, AGENT_EMAIL, false).await?;
        h.wait_for_text("No skills: sees no conversations until given some.")
            .await?;
        h.by_role_in_row("checkbox", "vip", AGENT_EMAIL)
            .await?
            .click()
            .await?;
        // The box ticks at the click; the hint goes only once the server has the skill
        // and the table is fetched again.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while h
            .browser
            .execute("return document.body.textContent", vec![])
            .await?
            .as_str()
            .unwrap_or_default()
            .contains("No skills: sees no conversations")
        {
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the agent still holds no skill"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_checked(h, "vip", AGENT_EMAIL, true).await?;
        wait_checked(h, "social", AGENT_EMAIL, false).await?;
        h.screenshot("people").await?;

        let agent = h.another_browser("skills-agent", 360).await?;
        agent
            .run_within(async |agent| {
                agent.sign_in("1000", AGENT_EMAIL, "demo-agent").await?;
                agent.wait_for_path("/workspace").await?;
                // `social`'s conversation is not theirs to see.
                agent.wait_for_text("No new conversations.").await?;
                agent.click("button", "All open").await?;
                agent.wait_for_text("No open conversations.").await?;
                agent.click("button", "New").await?;
                agent.wait_for_text("Live").await?;

                // The admin transfers it to `vip`.
                h.click("link", "Workspace").await?;
                h.open_conversation("Ann Lee").await?;
                h.by_role("heading", "Ann Lee").await?;
                h.click("button", "Transfer").await?;
                h.by_role("combobox", "To skill")
                    .await?
                    .select_by_label("vip")
                    .await?;
                h.by_role("combobox", "To person").await?;
                h.click("button", "Transfer").await?;
                // Closed once done; admins see every skill, so it stays on their screen.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                while h.count_role("combobox", "To skill").await? != 0 {
                    ensure!(
                        tokio::time::Instant::now() < deadline,
                        "the form stays open after the transfer"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                h.by_role("button", "Transfer").await?;
                h.by_role("heading", "Ann Lee").await?;

                // It appears in the agent's queue without a reload.
                agent.open_conversation("Ann Lee").await?;
                agent.wait_for_text("My tent zip broke").await?;

                // The agent hands it back to `social`, by keyboard in a 360 px panel.
                agent.click("button", "Transfer").await?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                loop {
                    let focused = agent
                        .browser
                        .execute("return document.activeElement.id", vec![])
                        .await?;
                    if focused == "sc-transfer-skill" {
                        break;
                    }
                    ensure!(
                        tokio::time::Instant::now() < deadline,
                        "the opened form does not take the focus ({focused})"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                agent.screenshot("transfer-form").await?;
                agent
                    .by_role("combobox", "To skill")
                    .await?
                    .select_by_label("social")
                    .await?;
                agent.click("button", "Transfer").await?;
                // No longer theirs to see: back to the queue, where it is gone.
                agent.wait_for_path("/workspace").await?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                while agent.browser.current_url().await?.query().is_some() {
                    ensure!(
                        tokio::time::Instant::now() < deadline,
                        "still on the conversation"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                agent.wait_for_text("No new conversations.").await?;
                Ok(())
            })
            .await?;

        // Skills in Home's Routing: one a page routes to cannot be retired (the page
        // says why); another is renamed, then retired.
        h.click("link", "SocialConnect Home").await?;
        h.wait_for_path("/home").await?;
        h.click("button", "Retire social").await?;
        let said = any_alert(h).await?;
        ensure!(
            said.contains("social") || said.contains("rout"),
            "the refusal says {said:?}"
        );
        h.by_role("button", "Rename social").await?;
        h.click("button", "Rename vip").await?;
        h.fill("New name for vip", "vip care").await?;
        h.click("button", "Save vip").await?;
        h.wait_for_text("Skill renamed vip care.").await?;
        h.by_role_in_row("checkbox", "vip care", AGENT_EMAIL)
            .await?;
        h.click("button", "Retire vip care").await?;
        h.wait_for_text("Skill vip care retired.").await?;
        ensure!(
            h.count_role("button", "Rename vip care").await? == 0,
            "a retired skill is still listed"
        );
        h.screenshot("routing").await?;
        Ok(())
    })
    .await;
}

/// Waits for a visible alert; its text.
async fn any_alert(h: &Harness) -> Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let shown = h
            .browser
            .execute(
                "return [...document.querySelectorAll('[role=alert]')]
                    .filter((el) => el.offsetWidth || el.offsetHeight)
                    .map((el) => el.textContent.trim()).join(' | ')",
                vec![],
            )
            .await?;
        let shown = shown.as_str().unwrap_or_default();
        if !shown.is_empty() {
            return Ok(shown.to_owned());
        }
        ensure!(tokio::time::Instant::now() < deadline, "no alert shown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
