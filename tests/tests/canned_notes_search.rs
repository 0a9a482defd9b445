//! The agent's tools in real browsers, against the sandbox networks: an admin adds a canned
//! response in SocialConnect Home; an agent types `/gr` in the Reply box, picks it, sees the
//! consumer's name filled in and sends it, and the consumer receives the filled text; the
//! agent writes a private note, which shows in the transcript marked as a note and never
//! reaches the network; and searching by the consumer's handle finds their conversation.

use anyhow::ensure;
use e2e::{ENTER, Harness, eventually};

const GREETING: &str = "Hi {{consumer.first_name}}, thanks for waiting! {{agent.name}} here.";
const FILLED: &str = "Hi Ann, thanks for waiting! Alex Agent here.";
/// WebDriver's key code for Backspace.
const BACKSPACE: &str = "\u{E003}";
const NOTE: &str = "Refund approved by Sam: do not ask for the receipt again.";

#[tokio::test]
async fn canned_response_private_note_and_search_in_the_workspace() {
    let (h, sb) = Harness::start_with_sandbox("canned_notes_search", 1280)
        .await
        .unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook
        .consumer_message(&page, &ann, "Where is my order?", &[]);
    let bo = sb.twitter.add_consumer("bo_diaz", "Bo Diaz");
    sb.twitter
        .consumer_tweet(&bo, "@acme my tent leaks", vec![]);
    let agent = h
        .another_browser("canned_notes_search-agent", 1280)
        .await
        .unwrap();
    h.run(async |h| {
        // The admin adds a canned response in Home; an unknown placeholder is refused.
        h.sign_in("1000", "admin@demo.example", "demo-admin")
            .await?;
        h.wait_for_path("/workspace").await?;
        h.click("link", "SocialConnect Home").await?;
        h.wait_for_path("/home").await?;
        h.fill("Shortcut", "greet").await?;
        h.fill("Text", "Your order {{order.id}} ships today")
            .await?;
        h.click("button", "Add canned response").await?;
        h.wait_for_text("unknown placeholder {{order.id}}").await?;
        h.fill("Text", GREETING).await?;
        h.click("button", "Add canned response").await?;
        h.wait_for_text("Canned response /greet added.").await?;
        h.by_role("button", "Edit /greet").await?;
        h.screenshot("home").await?;

        agent
            .run_within(async |a| {
                // `/gr` offers it, filled in for this consumer and agent; Enter puts it in.
                a.agent_opens("Ann Lee", "Where is my order?").await?;
                let reply = a.by_role("textbox", "Reply").await?;
                reply.click().await?;
                reply.send_keys("/gr").await?;
                a.by_role("listbox", "Canned responses").await?;
                a.by_role("option", &format!("/greet {FILLED}")).await?;
                a.screenshot("canned").await?;
                a.press(ENTER).await?;
                let value = a.by_role("textbox", "Reply").await?.prop("value").await?;
                ensure!(
                    value.as_deref() == Some(FILLED),
                    "the Reply box holds {value:?}"
                );
                ensure!(
                    a.count_role("listbox", "Canned responses").await? == 0,
                    "the list closes once one is chosen"
                );
                a.click("button", "Send").await?;
                eventually("the consumer gets the filled-in answer", || {
                    sb.facebook
                        .inbox(&page, &ann)
                        .iter()
                        .any(|m| m.from_page && m.text.as_deref() == Some(FILLED))
                })
                .await?;

                // A private note: in the transcript, marked as a note, by its author.
                a.click("button", "Note").await?;
                a.fill("Note", NOTE).await?;
                a.click("button", "Add note").await?;
                a.wait_for_text(NOTE).await?;
                a.wait_for_text("Only your team sees this").await?;
                let marked = a
                    .browser
                    .execute(
                        "return [...document.querySelectorAll('.sc-line--note')]
                           .map((n) => n.textContent).join('|')",
                        vec![],
                    )
                    .await?;
                let marked = marked.as_str().unwrap_or_default().to_owned();
                ensure!(
                    marked.contains("Note")
                        && marked.contains("Alex Agent")
                        && marked.contains(NOTE),
                    "the note is marked and signed: {marked:?}"
                );
                a.screenshot("note").await?;
                // A reply after it reaches the consumer; the note never does.
                a.click("button", "Private").await?;
                a.fill("Reply", "It ships today.").await?;
                a.click("button", "Send").await?;
                eventually("the consumer gets the reply written after the note", || {
                    sb.facebook
                        .inbox(&page, &ann)
                        .iter()
                        .any(|m| m.from_page && m.text.as_deref() == Some("It ships today."))
                })
                .await?;
                let inbox = sb.facebook.inbox(&page, &ann);
                ensure!(
                    !inbox.iter().any(|m| m
                        .text
                        .as_deref()
                        .is_some_and(|t| t.contains("Refund approved"))),
                    "the note reached the consumer: {inbox:?}"
                );
                let calls = format!("{:?}", sb.facebook.calls().all());
                ensure!(
                    !calls.contains("Refund approved"),
                    "a network call carried the note"
                );

                // Search by the consumer's handle finds their conversation, in place of the
                // queue (Bo's conversation is in New too: one link means the queue is hidden);
                // emptied, the queue is back.
                a.fill("Search conversations", "@bo_diaz").await?;
                a.conversation_link("Bo Diaz").await?;
                ensure!(
                    a.count_role("button", "New").await? == 0,
                    "the queue's views give way to the results"
                );
                a.screenshot("search").await?;
                a.open_conversation("Bo Diaz").await?;
                a.wait_for_text("@acme my tent leaks").await?;
                // Emptied key by key, as a person does (each key an input event).
                a.by_role("textbox", "Search conversations")
                    .await?
                    .send_keys(&BACKSPACE.repeat(12))
                    .await?;
                a.by_role("button", "New").await?;
                a.conversation_link("Bo Diaz").await?;
                Ok(())
            })
            .await
    })
    .await;
}
