//! Automation from SocialConnect Home in a real browser: the admin switches the built-in
//! bot on for the Facebook page with a greeting and a keyword rule, and a consumer who
//! writes in Messenger gets both answers; an agent never sees a bot form.

use e2e::{Harness, eventually};

#[tokio::test]
async fn admin_switches_the_bot_on_and_a_consumer_is_answered() {
    let (h, sb) = Harness::start_with_sandbox("automation", 1280)
        .await
        .unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    h.run(async |h| {
        h.sign_in("1000", "admin@demo.example", "demo-admin")
            .await?;
        h.wait_for_path("/workspace").await?;
        h.click("link", "SocialConnect Home").await?;
        h.by_role("heading", "Automation").await?;
        h.by_role("heading", "AcmeOutdoor (Facebook)").await?;
        h.click("checkbox", "Automation on").await?;
        h.fill("Greeting", "Hi! Acme's assistant here.").await?;
        h.fill(
            "Keyword rules (one a line: order, delivery => answer)",
            "order, parcel => Track it at acme.example/track",
        )
        .await?;
        h.click("button", "Save").await?;
        h.wait_for_text("Saved.").await?;
        h.screenshot("saved").await?;

        sb.facebook
            .consumer_message(&page, &ann, "Where is my order?", &[]);
        eventually("the bot's greeting and answer reach Messenger", || {
            let said: Vec<String> = sb
                .facebook
                .inbox(&page, &ann)
                .into_iter()
                .filter(|m| m.from_page)
                .filter_map(|m| m.text)
                .collect();
            said == [
                "Hi! Acme's assistant here.",
                "Track it at acme.example/track",
            ]
        })
        .await?;

        // A bad time zone is refused with the server's words.
        h.fill("Time zone", "Mars/Olympus").await?;
        h.click("button", "Save").await?;
        h.wait_for_text("is not an IANA time zone").await
    })
    .await;
}
