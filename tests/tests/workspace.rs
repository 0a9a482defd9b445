//! The agent workspace in headless Chromium: consumer lines arrive through signed webhooks
//! and show up live, tagged, and as text even when they look like markup.

use anyhow::ensure;
use e2e::{Harness, messenger, page_post};
use fantoccini::Locator;

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

async fn sign_in_agent(h: &Harness) -> anyhow::Result<()> {
    h.sign_in("1000", "agent@demo.example", "demo-agent")
        .await?;
    h.wait_for_path("/workspace").await?;
    h.wait_for_text("No new conversations.").await?;
    // The stream is open before the network speaks, so the line arrives live.
    h.wait_for_text("Live").await
}

#[tokio::test]
async fn a_consumer_line_arrives_live_and_reads_as_text() {
    Harness::start_with_webhooks("workspace", 1280)
        .await
        .unwrap()
        .run(async |h| {
            sign_in_agent(h).await?;
            h.facebook_webhook(&page_post(
                "2001",
                "Ann Lee",
                "1",
                1_795_600_000,
                "My tent zip broke on the first night. Can you help?",
            ))
            .await?;
            // No reload: the queue refetches on the server's event.
            h.wait_for_text("My tent zip broke on the first night")
                .await?;
            h.open_conversation("Ann Lee").await?;
            h.by_role("heading", "Ann Lee").await?;
            h.wait_for_text("Public/Post").await?;

            h.facebook_webhook(&messenger("2001", "m.1", 1_795_600_060_000, HOSTILE))
                .await?;
            h.wait_for_text(HOSTILE).await?;
            h.wait_for_text("Private").await?;
            ensure!(
                h.browser.get_alert_text().await.is_err(),
                "an alert opened: consumer text ran as markup"
            );
            let injected = h
                .browser
                .find_all(Locator::Css(
                    ".sc-transcript script, .sc-transcript img[src='x']",
                ))
                .await?;
            ensure!(injected.is_empty(), "consumer text became elements");

            h.click("button", "Take").await?;
            h.wait_for_text("Assigned to you").await?;
            h.click("button", "Mine").await?;
            h.conversation_link("Ann Lee").await?;
            let reply = h.by_role("textbox", "Reply").await?;
            ensure!(
                reply.is_enabled().await?,
                "the reply box is open for typing"
            );
            h.screenshot("1280").await?;

            h.click("button", "Close").await?;
            h.wait_for_text("No conversations assigned to you.").await?;
            ensure!(h.browser.get_alert_text().await.is_err(), "an alert opened");
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn the_workspace_fits_a_narrow_panel() {
    Harness::start_with_webhooks("workspace", 360)
        .await
        .unwrap()
        .run(async |h| {
            sign_in_agent(h).await?;
            h.facebook_webhook(&page_post(
                "2002",
                "Bruno Diaz",
                "2",
                1_795_600_000,
                "Do you ship to the Azores?",
            ))
            .await?;
            h.facebook_webhook(&page_post(
                "2001",
                "Ann Lee",
                "1",
                1_795_600_100,
                "My tent zip broke on the first night. Can you help?",
            ))
            .await?;
            h.wait_for_text("Do you ship to the Azores?").await?;
            h.wait_for_text("My tent zip broke").await?;
            h.screenshot("360-queue").await?;
            h.open_conversation("Ann Lee").await?;
            h.by_role("heading", "Ann Lee").await?;
            h.facebook_webhook(&messenger("2001", "m.2", 1_795_600_200_000, HOSTILE))
                .await?;
            h.wait_for_text(HOSTILE).await?;
            h.screenshot("360").await?;
            h.click("link", "Back to queue").await?;
            h.conversation_link("Bruno Diaz").await?;
            Ok(())
        })
        .await;
}

/// Marks every visible control a keyboard user should reach (`data-kb` = its index) and
/// returns their names.
const KEYBOARD_CONTROLS: &str = r#"
    const controls = [...document.querySelectorAll(
        'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), ' +
        'textarea:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])'
    )].filter((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden');
    return controls.map((el, i) => {
        el.dataset.kb = i;
        return (el.getAttribute('aria-label') || el.textContent || el.id || el.tagName).trim();
    });
"#;

/// Tab through the whole workspace with a conversation open, at a wide screen and in a
/// 360 px panel: every visible control (navigation, queue views and rows, Take/Close, the
/// reply box and its switch, every Social Widget tool) is reached, each showing its focus.
#[tokio::test]
async fn every_workspace_control_is_reached_by_tab_with_its_focus_shown() {
    for width in [1280, 360] {
        let (h, sb) = Harness::start_with_sandbox(&format!("workspace-keyboard-{width}"), width)
            .await
            .unwrap();
        let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
        sb.twitter
            .consumer_tweet(&bo, "@acme my tent leaks", vec![]);
        let cy = sb.twitter.add_consumer("cy", "Cy Park");
        sb.twitter
            .consumer_tweet(&cy, "@acme where is my order", vec![]);
        h.run(async |h| {
            h.agent_opens("Bo Diaz", "@acme my tent leaks").await?;
            // In a narrow panel the widget waits behind Tools (social_widget.rs works it
            // by keyboard there).
            if width > 1200 {
                h.wait_for_text("Followers").await?;
            }
            let names = h.browser.execute(KEYBOARD_CONTROLS, vec![]).await?;
            let names: Vec<String> = serde_json::from_value(names)?;
            ensure!(
                names.len() >= 10,
                "only {} controls: {names:?}",
                names.len()
            );
            h.browser
                .execute(
                    "document.activeElement.blur(); window.scrollTo(0, 0);",
                    vec![],
                )
                .await?;
            let mut reached = vec![false; names.len()];
            for _ in 0..names.len() * 3 {
                h.press(e2e::TAB).await?;
                let Some((label, ring)) = h.focused().await? else {
                    continue;
                };
                ensure!(ring, "no visible focus on {label:?} at {width} px");
                let index = h
                    .browser
                    .execute("return document.activeElement.dataset.kb ?? null;", vec![])
                    .await?;
                if let Some(i) = index.as_str().and_then(|i| i.parse::<usize>().ok()) {
                    reached[i] = true;
                }
                if reached.iter().all(|r| *r) {
                    break;
                }
            }
            let missed: Vec<&String> = names
                .iter()
                .zip(&reached)
                .filter(|(_, r)| !**r)
                .map(|(n, _)| n)
                .collect();
            ensure!(
                missed.is_empty(),
                "Tab never reached {missed:?} at {width} px"
            );
            Ok(())
        })
        .await;
    }
}

#[tokio::test]
async fn conversations_loaded_by_address_again_and_again_all_load() {
    Harness::start_with_webhooks("workspace-reloads", 1280)
        .await
        .unwrap()
        .run(async |h| {
            sign_in_agent(h).await?;
            h.facebook_webhook(&page_post(
                "2001",
                "Ann Lee",
                "1",
                1_795_600_000,
                "Still there?",
            ))
            .await?;
            h.wait_for_text("Still there?").await?;
            let link = h.conversation_link("Ann Lee").await?;
            let href = link.attr("href").await?.unwrap_or_default();
            ensure!(href.contains("conversation="), "{href}");
            // Each load leaves a page behind (the back/forward cache may keep it); its
            // event stream must not hold one of the browser's few connections per host.
            for _ in 0..8 {
                h.open(&href).await?;
                h.by_role("heading", "Ann Lee").await?;
                h.wait_for_text("Still there?").await?;
            }
            Ok(())
        })
        .await;
}

/// Eight workspaces open at once, each holding its event stream, over HTTPS: with HTTP/2
/// they share one connection. Over HTTP/1.1 the seventh would wait for one of the
/// browser's six connections to the host, and hang at "Loading the conversation…".
async fn eight_open_workspaces(h: &Harness) -> anyhow::Result<()> {
    sign_in_agent(h).await?;
    h.facebook_webhook(&page_post(
        "2002",
        "Ann Lee",
        "1",
        1_795_600_000,
        "Anyone there?",
    ))
    .await?;
    h.wait_for_text("Anyone there?").await?;
    let href = h
        .conversation_link("Ann Lee")
        .await?
        .attr("href")
        .await?
        .unwrap_or_default();
    for _ in 0..7 {
        let tab = h.browser.new_window(true).await?;
        h.browser.switch_to_window(tab.handle).await?;
        h.open(&href).await?;
        h.by_role("heading", "Ann Lee").await?;
        h.wait_for_text("Anyone there?").await?;
    }
    h.until_js(
        "the page and its calls over HTTP/2",
        "return performance.getEntriesByType('navigation')[0].nextHopProtocol === 'h2' \
         && performance.getEntriesByType('resource').some(e => e.name.includes('/api/') \
            && e.nextHopProtocol === 'h2')",
    )
    .await
}

#[tokio::test]
async fn eight_open_workspaces_over_https_all_load_on_http2() {
    Harness::start_with_webhooks_https("workspace-tabs-h2", 1280)
        .await
        .unwrap()
        .run(eight_open_workspaces)
        .await;
}
