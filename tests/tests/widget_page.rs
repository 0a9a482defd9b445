//! The Social Widget page on its own (`/widget?conversation=ID`), in a 360 px panel: the
//! agent answers a Facebook comment publicly and then with a Private Response from the
//! widget's own Reply box, and the consumer gets each where it belongs.

use e2e::{Harness, eventually};

async fn value(h: &Harness, label: &str) -> anyhow::Result<String> {
    let el = h.by_role("textbox", label).await?;
    Ok(el.prop("value").await?.unwrap_or_default())
}

#[tokio::test]
async fn the_widget_page_alone_sends_a_public_reply_and_a_private_response() {
    let (h, sb) = Harness::start_with_sandbox("widget-page", 360)
        .await
        .unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    let post = sb.facebook.brand_post(&page, "Our new tent is out!");
    let comment = sb
        .facebook
        .consumer_comment(&page, &post, &ann, "Is it waterproof?")
        .unwrap();
    h.run(async |h| {
        h.agent_opens("Ann Lee", "Is it waterproof?").await?;
        let url = h.browser.current_url().await?;
        let id = url
            .query_pairs()
            .find(|(k, _)| k == "conversation")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| anyhow::anyhow!("no conversation in {url}"))?;
        h.open(&format!("/widget?conversation={id}")).await?;

        // The whole widget on one page: the tools, the switch with where the consumer last
        // wrote, the Reply box with its count for where the reply goes.
        h.wait_for_text("The consumer last wrote in public.")
            .await?;
        h.by_role("button", "Private Response").await?;
        h.click("button", "Add Public to Private").await?;
        h.wait_for_text("Added to the Reply box.").await?;
        let reply = value(h, "Reply").await?;
        anyhow::ensure!(
            reply == "https://m.me/AcmeOutdoor",
            "the Reply box holds {reply:?}"
        );
        h.fill("Reply", "Yes, to 3000 mm").await?;
        h.wait_for_text("Facebook comment: 15 / 5000").await?;
        h.fits_width().await?;
        h.browser
            .execute(
                "document.querySelector('.sc-widget-reply').scrollIntoView({ block: 'end' });",
                vec![],
            )
            .await?;
        h.screenshot("reply-box").await?;

        // Public: a comment under the consumer's comment.
        h.click("button", "Send").await?;
        eventually("the public reply under Ann's comment", || {
            sb.facebook
                .comments(&post)
                .iter()
                .any(|c| c.message == "Yes, to 3000 mm" && c.from.is_page && c.parent_id == comment)
        })
        .await?;
        h.wait_for_text("Last reply: Sent publicly").await?;

        // Private Response: a Messenger message answering that comment.
        h.click("button", "Private Response").await?;
        h.fill("Reply", "I sent you the care guide").await?;
        h.wait_for_text("Messenger: 25 / 2000").await?;
        h.click("button", "Send").await?;
        // The consumer wrote in public: the widget asks once before answering privately.
        h.click("button", "Send as Private Response").await?;
        eventually("the Private Response in Ann's Messenger", || {
            sb.facebook.inbox(&page, &ann).iter().any(|m| {
                m.from_page
                    && m.text.as_deref() == Some("I sent you the care guide")
                    && m.private_reply_to.as_deref() == Some(comment.as_str())
            })
        })
        .await?;
        h.wait_for_text("Last reply: Sent privately").await?;
        anyhow::ensure!(value(h, "Reply").await?.is_empty(), "the draft stays");
        h.screenshot("sent").await?;
        Ok(())
    })
    .await;
}
