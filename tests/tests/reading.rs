//! Reading and answering a long conversation in headless Chromium, at 1366 × 900 and in a
//! 360 × 740 panel: it opens at its newest line with Reply and Send in view, without
//! scrolling the page; a line that arrives while the agent reads older ones shows a marker
//! instead of moving what they read; a reply sent shows at once.

use anyhow::ensure;
use e2e::{Harness, messenger, page_post};

/// Whether the transcript's newest line is inside the transcript's visible box and the
/// window, and the page itself does not scroll (each column scrolls on its own).
const NEWEST: &str = r#"
    function newestInView() {
        const t = document.querySelector('.sc-transcript');
        const last = t && t.lastElementChild;
        if (!last) return false;
        const box = t.getBoundingClientRect(), r = last.getBoundingClientRect();
        return r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && r.bottom <= innerHeight
            && document.scrollingElement.scrollHeight <= innerHeight;
    }
"#;

fn newest_in_view(and: &str) -> String {
    format!("{NEWEST} return newestInView() && ({and});")
}

/// Whether the Reply box and Send are wholly inside the window.
const COMPOSER_IN_VIEW: &str = r#"
    const inside = (el) => {
        if (!el) return false;
        const r = el.getBoundingClientRect();
        return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
    };
    const send = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Send');
    return inside(document.getElementById('sc-reply')) && inside(send);
"#;

#[tokio::test]
async fn a_long_conversation_opens_at_its_newest_line_and_keeps_the_agents_place() {
    for width in [1366, 360] {
        let h = Harness::start_with_webhooks(&format!("reading-{width}"), width)
            .await
            .unwrap();
        h.run(async |h| {
            h.sign_in("1000", "agent@demo.example", "demo-agent")
                .await?;
            h.wait_for_path("/workspace").await?;
            h.wait_for_text("Live").await?;
            h.facebook_webhook(&page_post(
                "2001",
                "Ann Lee",
                "1",
                1_795_599_000,
                "My tent pole snapped.",
            ))
            .await?;
            for n in 1..=30 {
                let text = format!("Line {n}: the tent pole snapped again, here is what happened.");
                h.facebook_webhook(&messenger("2001", &format!("m.{n}"), 1_795_600_000_000 + n * 1000, &text))
                    .await?;
            }
            h.wait_for_text("Line 30:").await?;
            h.open_conversation("Ann Lee").await?;
            h.until_js("the newest line in view on open", &newest_in_view("true"))
                .await?;
            h.until_js("Reply and Send in view without scrolling", COMPOSER_IN_VIEW)
                .await?;
            h.screenshot("open").await?;

            // The agent scrolls up to read; a new line arrives: their place stays, a
            // marker says there is more below.
            h.browser
                .execute_async(
                    "const [done] = arguments; document.querySelector('.sc-transcript').scrollTop = 0;
                     requestAnimationFrame(() => requestAnimationFrame(done));",
                    vec![],
                )
                .await?;
            h.facebook_webhook(&messenger("2001", "m.31", 1_795_600_031_000, "Line 31: are you there?"))
                .await?;
            let marker = h.by_role("button", "New messages ↓").await?;
            let top = h
                .browser
                .execute("return document.querySelector('.sc-transcript').scrollTop;", vec![])
                .await?;
            ensure!(top.as_f64() == Some(0.0), "the transcript moved to {top} under the agent");
            h.screenshot("marker").await?;
            marker.click().await?;
            h.until_js("the newest line in view after the marker", &newest_in_view("true"))
                .await?;
            ensure!(
                h.count_role("button", "New messages ↓").await? == 0,
                "the marker stays after reading the newest line"
            );

            // A line arriving while the agent is at the newest line shows at once.
            h.facebook_webhook(&messenger("2001", "m.32", 1_795_600_032_000, "Line 32: hello?"))
                .await?;
            h.wait_for_text("Line 32: hello?").await?;
            h.until_js("a live line in view", &newest_in_view("true")).await?;

            // The agent's own reply is the newest line, in view.
            h.fill("Reply", "Sorry about the pole, a new one is on its way.")
                .await?;
            h.click("button", "Send").await?;
            h.until_js(
                "the reply as the newest line, in view",
                &newest_in_view(
                    "document.querySelector('.sc-transcript').lastElementChild.textContent.includes('a new one is on its way')",
                ),
            )
            .await?;
            h.until_js("Reply and Send still in view", COMPOSER_IN_VIEW)
                .await?;
            h.screenshot("replied").await?;
            Ok(())
        })
        .await;
    }
}
