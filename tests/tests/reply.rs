//! Answering from the workspace in a real browser: the consumer writes on the sandbox
//! networks, the agent replies from the compose box, the consumer sees the answer there.

use e2e::{Harness, eventually};

#[tokio::test]
async fn agent_answers_messenger_privately_and_a_tweet_publicly() {
    let (h, sb) = Harness::start_with_sandbox("reply", 1280).await.unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook
        .consumer_message(&page, &ann, "Where is my order?", &[]);
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    h.run(async |h| {
        h.agent_opens("Ann Lee", "Where is my order?").await?;
        h.wait_for_text("The consumer last wrote in private.")
            .await?;
        h.fill("Reply", "It ships today").await?;
        h.click("button", "Send").await?;
        eventually("the consumer gets the Messenger reply", || {
            sb.facebook
                .inbox(&page, &ann)
                .iter()
                .any(|m| m.from_page && m.text.as_deref() == Some("It ships today"))
        })
        .await?;
        h.wait_for_text("Sent").await?;

        let tweet = sb
            .twitter
            .consumer_tweet(&bo, "@acme my tent leaks", vec![]);
        h.click("button", "All open").await?;
        h.open_conversation("Bo Diaz").await?;
        h.wait_for_text("@acme my tent leaks").await?;
        h.wait_for_text("The consumer last wrote in public.")
            .await?;
        h.fill("Reply", "@bo sorry! A new one is on its way")
            .await?;
        h.click("button", "Send").await?;
        eventually("the reply shows in the consumer's thread", || {
            sb.twitter
                .thread(&tweet)
                .iter()
                .any(|t| t.text == "@bo sorry! A new one is on its way")
        })
        .await?;
        h.screenshot("replied").await?;
        Ok(())
    })
    .await;
}
