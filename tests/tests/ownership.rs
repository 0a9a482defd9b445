//! Who has a conversation, and what the compose box does about it, in real browsers: a
//! reply takes the conversation, a second agent sees who has it and must choose to answer
//! anyway, and sees the first one typing; the Public/Private switch follows a consumer who
//! moves from private to public and asks once before a reply goes the other way; the
//! queue marks a reply that failed.

use anyhow::{Result, ensure};
use e2e::{ENTER, Harness};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

/// Waits until `check` holds, polling, for at most [`PATIENCE`].
async fn eventually<F: std::future::Future<Output = Result<bool>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await? {
        ensure!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Whether the page's visible text holds `text` now.
async fn shows(h: &Harness, text: &str) -> Result<bool> {
    let body = h
        .browser
        .execute("return document.body.innerText", vec![])
        .await?;
    Ok(body.as_str().unwrap_or_default().contains(text))
}

/// Whether the button named `name` is pressed (`aria-pressed`).
async fn pressed(h: &Harness, name: &str) -> Result<bool> {
    let button = h.by_role("button", name).await?;
    Ok(button.attr("aria-pressed").await?.as_deref() == Some("true"))
}

/// A second agent of the demo brand, Bea Agent, who answers every skill.
async fn add_second_agent(h: &Harness) -> Result<()> {
    use server::store::prelude::*;
    let store = server::store::SqliteStore::open(h.data_dir()).await?;
    let account = store
        .account_by_number("1000")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo account"))?;
    server::auth::create_user(
        &store,
        Some(account.id),
        "bea@demo.example",
        "Bea Agent",
        shared::Role::Agent,
        "bea-demo-password",
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:?}"))?
    .ok_or_else(|| anyhow::anyhow!("Bea exists already"))?;
    Ok(())
}

#[tokio::test]
async fn a_second_agent_sees_who_has_the_conversation_answers_only_deliberately_and_sees_typing() {
    let (h, sb) = Harness::start_with_sandbox("ownership", 1280)
        .await
        .unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook
        .consumer_message(&page, &ann, "Where is my order?", &[]);
    h.run(async |h| {
        add_second_agent(h).await?;
        // Alex answers: the reply takes the conversation.
        h.agent_opens("Ann Lee", "Where is my order?").await?;
        h.fill("Reply", "It ships today").await?;
        h.click("button", "Send").await?;
        h.wait_for_text("Assigned to you").await?;

        let bea = h.another_browser("ownership-bea", 1280).await?;
        bea.run_within(async |bea| {
            bea.sign_in("1000", "bea@demo.example", "bea-demo-password")
                .await?;
            bea.wait_for_path("/workspace").await?;
            // Taken: no longer new, still among the open ones.
            bea.wait_for_text("No new conversations.").await?;
            bea.click("button", "All open").await?;
            bea.open_conversation("Ann Lee").await?;
            bea.wait_for_text("It ships today").await?;
            bea.wait_for_text("Assigned to Alex Agent").await?;
            bea.wait_for_text("Alex Agent has this conversation.")
                .await?;
            bea.fill("Reply", "Hello from Bea").await?;
            let send = bea.by_role("button", "Send").await?;
            ensure!(
                !send.is_enabled().await?,
                "Send is open before the deliberate step"
            );
            bea.wait_for_text("Live").await?;

            // Alex types: Bea sees it, and then sees it go.
            h.by_role("textbox", "Reply")
                .await?
                .send_keys("Let me check the tracking")
                .await?;
            bea.wait_for_text("Alex Agent is typing…").await?;
            bea.screenshot("typing").await?;
            eventually("the typing note goes once Alex stops", || async {
                Ok(!shows(bea, "is typing").await?)
            })
            .await?;

            // The deliberate step opens Send, and the focus is on the reply.
            bea.click("button", "Answer anyway").await?;
            eventually("Send opens after Answer anyway", || async {
                bea.by_role("button", "Send")
                    .await?
                    .is_enabled()
                    .await
                    .map_err(Into::into)
            })
            .await?;
            let focused = bea
                .browser
                .execute("return document.activeElement.id", vec![])
                .await?;
            ensure!(focused == "sc-reply", "the focus is on {focused}");
            ensure!(
                bea.count_role("button", "Answer anyway").await? == 0,
                "asked twice"
            );
            bea.screenshot("answer-anyway").await?;
            Ok(())
        })
        .await?;
        // Alex's own view has no such step.
        ensure!(
            h.count_role("button", "Answer anyway").await? == 0,
            "the holder is asked to answer anyway"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_switch_follows_a_consumer_from_private_to_public_and_asks_before_going_the_other_way()
{
    let (h, sb) = Harness::start_with_sandbox("ownership-switch", 1280)
        .await
        .unwrap();
    let brand = sb.twitter.brands()[0].0.clone();
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    sb.twitter
        .consumer_dm(&bo, &brand, "Is my order shipped?", None)
        .unwrap();
    h.run(async |h| {
        h.agent_opens("Bo Diaz", "Is my order shipped?").await?;
        h.wait_for_text("The consumer last wrote in private.")
            .await?;
        ensure!(pressed(h, "Private").await?, "the switch starts private");
        // The agent sets the switch for this draft and sends.
        h.click("button", "Private").await?;
        h.fill("Reply", "Checking now").await?;
        h.click("button", "Send").await?;
        eventually("Bo gets the Direct Message", || async {
            Ok(sb
                .twitter
                .dm_conversation(&brand, &bo.id)
                .iter()
                .any(|d| d.text == "Checking now"))
        })
        .await?;

        // Bo now writes in public: the switch follows without a touch.
        sb.twitter
            .consumer_tweet(&bo, "@acme still waiting, any news?", vec![]);
        h.wait_for_text("@acme still waiting, any news?").await?;
        h.wait_for_text("The consumer last wrote in public.")
            .await?;
        eventually("the switch moves to Public", || pressed(h, "Public")).await?;
        h.screenshot("followed").await?;

        // Private on purpose: asked once, inline, before anything is sent.
        h.click("button", "Private").await?;
        h.fill("Reply", "Sending the tracking number by DM").await?;
        h.click("button", "Send").await?;
        h.wait_for_text("The consumer last wrote in public. Send this reply privately?")
            .await?;
        ensure!(
            h.browser.get_alert_text().await.is_err(),
            "a browser dialog asked"
        );
        h.by_role("button", "Send as Public").await?;
        eventually("the first choice has the focus", || async {
            Ok(h.focused().await?.map(|(name, _)| name).as_deref() == Some("Send as Private"))
        })
        .await?;
        ensure!(
            !sb.twitter
                .dm_conversation(&brand, &bo.id)
                .iter()
                .any(|d| d.text.starts_with("Sending the tracking")),
            "sent before the answer"
        );
        h.screenshot("asked").await?;
        h.press(ENTER).await?;
        eventually("Bo gets the private answer", || async {
            Ok(sb
                .twitter
                .dm_conversation(&brand, &bo.id)
                .iter()
                .any(|d| d.text == "Sending the tracking number by DM"))
        })
        .await?;
        // Sent: the question is gone and the switch follows Bo again.
        eventually("the question goes", || async {
            Ok(h.count_role("button", "Send as Public").await? == 0)
        })
        .await?;
        eventually("the switch is back on Public", || pressed(h, "Public")).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_queue_marks_a_reply_that_failed_and_tells_conversations_apart() {
    let (h, sb) = Harness::start_with_sandbox("ownership-failed", 1280)
        .await
        .unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook
        .consumer_message(&page, &ann, "Can I return my boots?", &[]);
    let brand = sb.twitter.brands()[0].0.clone();
    let x_ann = sb.twitter.add_consumer("annlee", "Ann Lee");
    sb.twitter
        .consumer_dm(&x_ann, &brand, "Hello from X", None)
        .unwrap();
    h.run(async |h| {
        h.sign_in("1000", "agent@demo.example", "demo-agent")
            .await?;
        h.wait_for_path("/workspace").await?;
        // Two conversations with Ann Lee, named apart by network, tag and time.
        h.by_role_starting("link", "Ann Lee, Facebook, Private, ")
            .await?;
        h.by_role_starting("link", "Ann Lee, Twitter/X, Private, ")
            .await?;
        h.wait_for_text("Consumer wrote last").await?;
        h.wait_for_text("Waiting").await?;
        h.wait_for_text("1 unread").await?;

        h.conversation_link("Ann Lee, Facebook")
            .await?
            .click()
            .await?;
        h.wait_for_text("Can I return my boots?").await?;
        // Over Messenger's 2,000 characters: stored as failed.
        h.fill("Reply", &"x".repeat(2_001)).await?;
        h.click("button", "Send").await?;
        h.wait_for_text("message not sent").await?;
        // The reply took it: it is among the agent's own, marked in words.
        h.click("button", "Mine").await?;
        h.wait_for_text("Reply failed").await?;
        h.wait_for_text("Agent wrote last").await?;
        h.screenshot("failed").await?;
        // Longest waiting first: both still wait (a failed reply answers nothing).
        h.click("button", "All open").await?;
        h.click("button", "Longest waiting").await?;
        ensure!(
            pressed(h, "Longest waiting").await?,
            "the sort is not shown"
        );
        let order = h
            .browser
            .execute(
                "return [...document.querySelectorAll('.sc-queue__item')]
                    .map((a) => a.getAttribute('aria-label'))",
                vec![],
            )
            .await?;
        let order: Vec<String> = serde_json::from_value(order)?;
        ensure!(
            order.len() == 2 && order[0].starts_with("Ann Lee, Facebook"),
            "waiting longest first: {order:?}"
        );
        Ok(())
    })
    .await;
}
