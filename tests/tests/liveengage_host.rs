//! The Social Widget inside LiveEngage's agent workspace, in a real browser: the sandbox's
//! workspace page on its own origin frames the server's `/widget`, which loads the
//! sandbox's widget SDK and follows the conversation the agent opens there. A consumer's
//! Facebook comment becomes a LiveEngage conversation; the widget shows that consumer; its
//! tools write into LiveEngage's compose box; what the agent sends there reaches the
//! consumer on Facebook; the widget follows a switch to another conversation; the SDK is
//! strict about `init`, paths and commands; and a page on an origin
//! `SOCIALCONNECT_FRAME_ANCESTORS` does not list cannot frame the widget.
//!
//! Two sites over HTTPS, as in production: the workspace at `https://127.0.0.1:PORT`, the
//! server at `https://localhost:PORT`. The browser blocks third-party cookies, so the
//! agent signs in inside the frame, where the session cookie is partitioned.

use anyhow::{Context, ensure};
use e2e::{Harness, eventually};
use std::time::Duration;

/// Waits until the widget's consumer profile (our transcript's consumer, not LiveEngage's
/// name for them) names `name` and no one else.
async fn profile_shows(h: &Harness, name: &str) -> anyhow::Result<()> {
    h.until_js(
        &format!("{name}'s profile in the widget"),
        &format!(
            "const p = document.querySelector('[aria-label=\"Consumer profile\"]'); \
             return !!p && p.innerText.includes({name:?}) \
               && !['Ann Lee', 'Bruno Diaz'].some((n) => n !== {name:?} && p.innerText.includes(n));"
        ),
    )
    .await
}

/// The LiveEngage compose box's text.
const COMPOSE: &str = "return document.getElementById('le-compose-text').value;";

/// Inside the widget's frame: the SDK refuses an unknown path and an unknown command,
/// answers `chatInfo.rtSessionId`, and, once disposed, throws before `init`; the
/// workspace refuses a request from the frame that did not `init`.
const STRICTNESS: &str = r#"
const done = arguments[arguments.length - 1];
const sdk = window.lpTag.agentSDK;
const out = {};
const hostOrigin = new URL(document.querySelector('script[src*="client-SDK"]').src).origin;
sdk.get("chatInfo.nope", () => { out.unknownPath = "answered"; }, (e) => {
  out.unknownPath = e.message;
  sdk.command("Reboot", {}, (e2) => {
    out.unknownCommand = e2 ? e2.message : null;
    sdk.get("chatInfo.rtSessionId", (v) => {
      out.rtSessionId = v;
      sdk.dispose();
      try { sdk.get("chatInfo.rtSessionId", () => {}, () => {}); out.beforeInit = "no error"; }
      catch (e3) { out.beforeInit = e3.message; }
      window.addEventListener("message", (ev) => {
        if (ev.data && ev.data.id === 4242) { out.raw = ev.data.message; done(out); }
      });
      parent.postMessage(
        { protocol: "lp-agent-sdk/1", type: "get", id: 4242, path: "chatInfo.rtSessionId" },
        hostOrigin);
    });
  });
});
"#;

#[tokio::test]
async fn the_widget_works_inside_liveengages_agent_workspace() {
    let (h, sb) = Harness::start_with_liveengage("liveengage-host", 1366)
        .await
        .unwrap();
    let fb = sb.facebook.clone();
    let le = sb.liveengage.clone();
    let page = fb.pages()[0].clone();
    let ann = fb.add_consumer("Ann Lee", true);
    let bruno = fb.add_consumer("Bruno Diaz", true);
    h.run(async |h| {
        // A consumer's comment becomes a LiveEngage conversation.
        let post = fb.consumer_post(&page, &ann, "The zip of my jacket broke", None);
        let le_texts = |c: &sandbox::liveengage::Conversation| {
            c.lines
                .iter()
                .filter_map(|l| l.text.clone())
                .collect::<Vec<_>>()
        };
        le.wait_for(Duration::from_secs(20), |c| le_texts(c).len() == 1)
            .await
            .context("Ann's post in LiveEngage")?;
        let comment = fb
            .consumer_comment(&page, &post, &ann, "Can you help?")
            .context("Ann's comment")?;
        let ann_le = le
            .wait_for(Duration::from_secs(20), |c| {
                le_texts(c).contains(&"[Public/Comment] Can you help?".to_owned())
            })
            .await
            .context("Ann's comment in LiveEngage")?;
        fb.consumer_post(&page, &bruno, "Where is my order?", None);
        le.wait_for(Duration::from_secs(20), |c| {
            c.id != ann_le.id && le_texts(c).len() == 1
        })
        .await
        .context("Bruno's post in LiveEngage")?;

        // The agent works in LiveEngage, on another site, and signs in to SocialConnect
        // inside the widget's frame.
        ensure!(
            h.url.starts_with("https://localhost:")
                && le.workspace_url().starts_with("https://127.0.0.1:"),
            "two sites over HTTPS: {} and {}",
            h.url,
            le.workspace_url()
        );
        h.browser.goto(&le.workspace_url()).await?;
        h.by_role("heading", "Open conversations").await?;
        h.browser.clone().enter_frame(Some(0)).await?;
        // Third-party cookies are blocked here: only a partitioned one is kept.
        let kept = h
            .browser
            .execute(
                "document.cookie = 'plain=1; SameSite=None; Secure; Path=/'; \
                 document.cookie = 'chips=1; SameSite=None; Secure; Path=/; Partitioned'; \
                 return document.cookie;",
                vec![],
            )
            .await?;
        ensure!(
            kept.as_str()
                .is_some_and(|c| c.contains("chips=1") && !c.contains("plain=1")),
            "the frame kept {kept}"
        );
        h.fill("Account number", "1000").await?;
        h.fill("Email", "agent@demo.example").await?;
        h.fill("Password", "demo-agent").await?;
        h.click("button", "Sign in").await?;
        h.browser.clone().enter_parent_frame().await?;
        h.wait_for_text("Social Widget: connected").await?;
        h.click("button", "Ann Lee").await?;
        h.by_role("heading", "Ann Lee").await?;
        h.wait_for_text("[Public/Comment] Can you help?").await?;

        // The widget in the frame follows: Ann, as our transcript has her.
        h.browser.clone().enter_frame(Some(0)).await?;
        h.wait_for_text("In LiveEngage, talking with Ann Lee")
            .await?;
        profile_shows(h, "Ann Lee").await?;
        // Its tools write into LiveEngage's compose box.
        h.click("button", "Add Public to Private").await?;
        h.wait_for_text("Written into the LiveEngage compose box.")
            .await?;
        h.click("button", "Character Counter").await?;
        h.fill("Text to count (Facebook comment)", "We can fix your zip")
            .await?;
        h.click("button", "Use").await?;
        h.browser.clone().enter_parent_frame().await?;
        let written = "https://m.me/AcmeOutdoor We can fix your zip";
        h.until_js(
            "the widget's text in LiveEngage's compose box",
            &format!("return document.getElementById('le-compose-text').value === {written:?};"),
        )
        .await?;
        let shot = h.screenshot("workspace").await?;
        println!("screenshot: {}", shot.display());

        // The agent sends from LiveEngage: a public reply under Ann's comment.
        h.click("button", "Send").await?;
        h.until_js(
            "the compose box emptied",
            "return document.getElementById('le-compose-text').value === '';",
        )
        .await?;
        eventually("the reply on Facebook", || {
            fb.comments(&post).iter().any(|c| c.message == written)
        })
        .await?;
        let reply = fb
            .comments(&post)
            .into_iter()
            .find(|c| c.message == written)
            .context("the reply")?;
        ensure!(reply.from.id == page.id, "not from the page: {reply:?}");

        // The widget's switch on Private Response: what the agent writes in LiveEngage
        // next reaches Ann privately, in Messenger, answering her comment.
        h.browser.clone().enter_frame(Some(0)).await?;
        h.click("button", "Private Response").await?;
        h.wait_for_text("Replies written in LiveEngage go out privately")
            .await?;
        h.browser.clone().enter_parent_frame().await?;
        let private = "I sent you the repair form";
        h.fill("Message", private).await?;
        h.click("button", "Send").await?;
        eventually("the Private Response in Ann's Messenger", || {
            fb.inbox(&page, &ann).iter().any(|m| {
                m.from_page
                    && m.text.as_deref() == Some(private)
                    && m.private_reply_to.as_deref() == Some(comment.as_str())
            })
        })
        .await?;
        ensure!(
            !fb.comments(&post).iter().any(|c| c.message == private),
            "the private answer went public"
        );

        // The agent switches to Bruno: the widget follows.
        h.click("button", "Bruno Diaz").await?;
        h.by_role("heading", "Bruno Diaz").await?;
        h.browser.clone().enter_frame(Some(0)).await?;
        h.wait_for_text("In LiveEngage, talking with Bruno Diaz")
            .await?;
        profile_shows(h, "Bruno Diaz").await?;
        h.click("button", "Character Counter").await?;
        h.fill("Text to count (Facebook comment)", "On its way")
            .await?;
        h.click("button", "Use").await?;
        h.browser.clone().enter_parent_frame().await?;
        h.until_js(
            "the counter's text in Bruno's compose box",
            "return document.getElementById('le-compose-text').value === 'On its way';",
        )
        .await?;
        h.screenshot("switched").await?;

        // Strict like LivePerson's SDK.
        h.browser.clone().enter_frame(Some(0)).await?;
        let strict = h.browser.execute_async(STRICTNESS, vec![]).await?;
        h.browser.clone().enter_parent_frame().await?;
        let bruno_le = le
            .conversations()
            .into_iter()
            .find(|c| c.id != ann_le.id)
            .context("Bruno's conversation")?;
        ensure!(
            strict["unknownPath"] == "no such path: chatInfo.nope"
                && strict["unknownCommand"] == "unknown command: Reboot"
                && strict["rtSessionId"] == bruno_le.id
                && strict["beforeInit"] == "lpTag.agentSDK.get: call lpTag.agentSDK.init first"
                && strict["raw"] == "call init first",
            "the SDK answered {strict}"
        );
        h.wait_for_text("Social Widget: not connected").await?;
        ensure!(
            h.browser.execute(COMPOSE, vec![]).await? == "On its way",
            "the compose box changed"
        );
        Ok(())
    })
    .await;
    sb.stop().await;
}

#[tokio::test]
async fn a_page_not_listed_in_frame_ancestors_cannot_frame_the_widget() {
    let (h, sb) = Harness::start_with_liveengage("liveengage-host-refused", 1366)
        .await
        .unwrap();
    let le = sb.liveengage.clone();
    h.run(async |h| {
        // The server names the sandbox's origin, and only it, beside its own.
        let http = e2e::reqwest_client();
        let res = http.get(format!("{}/widget", h.url)).send().await?;
        let csp = res
            .headers()
            .get("content-security-policy")
            .context("a policy")?
            .to_str()?
            .to_owned();
        ensure!(
            csp.contains(&format!("frame-ancestors 'self' {}", le.workspace_origin())),
            "{csp}"
        );
        ensure!(
            csp.contains(&format!(
                "script-src 'self' 'wasm-unsafe-eval' {}",
                le.workspace_origin()
            )),
            "{csp}"
        );
        let home = http.get(format!("{}/workspace", h.url)).send().await?;
        ensure!(
            home.headers()["content-security-policy"]
                .to_str()?
                .ends_with("frame-ancestors 'self'")
                && home.headers()["x-frame-options"] == "SAMEORIGIN",
            "other pages must refuse every other origin"
        );

        h.sign_in("1000", "agent@demo.example", "demo-agent")
            .await?;
        h.wait_for_path("/workspace").await?;
        // The same workspace reached as localhost: another origin, not listed.
        let elsewhere = le.workspace_url().replace("127.0.0.1", "localhost");
        ensure!(elsewhere.contains("localhost"), "{elsewhere}");
        h.browser.goto(&elsewhere).await?;
        h.by_role("heading", "Open conversations").await?;
        // Give a refused frame every chance to connect anyway.
        tokio::time::sleep(Duration::from_secs(3)).await;
        h.wait_for_text("Social Widget: not connected").await?;
        h.browser.clone().enter_frame(Some(0)).await?;
        let inside = h.browser.execute("return location.href;", vec![]).await?;
        ensure!(
            inside
                .as_str()
                .is_some_and(|u| u.starts_with("chrome-error:")),
            "the frame shows {inside}"
        );
        ensure!(
            h.count_role("heading", "Social Widget").await? == 0,
            "the widget drew in a refused frame"
        );
        h.browser.clone().enter_parent_frame().await?;
        h.screenshot("refused").await?;
        Ok(())
    })
    .await;
    sb.stop().await;
}
