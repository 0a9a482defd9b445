//! The Social Widget in a real browser: the consumer's profile, Add Public to Private,
//! the Character Counter, View Media and Send Image against the sandbox networks. Inside
//! LiveEngage's agent workspace: `liveengage_host.rs`.

use e2e::{ENTER, Harness, TAB, eventually};
use sandbox::facebook::MediaKind;

async fn value(h: &Harness, label: &str) -> anyhow::Result<String> {
    let el = h.by_role("textbox", label).await?;
    Ok(el.prop("value").await?.unwrap_or_default())
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn facebook_profile_link_media_and_send_image() {
    let (h, sb) = Harness::start_with_sandbox("social-widget-fb", 1280)
        .await
        .unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook.consumer_message(
        &page,
        &ann,
        "My tent arrived torn",
        &[MediaKind::Image, MediaKind::Gif, MediaKind::Video],
    );
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("answer.png");
    std::fs::write(&png, PNG).unwrap();
    h.run(async |h| {
        h.agent_opens("Ann Lee", "My tent arrived torn").await?;

        // The profile: what Facebook gave, and plainly what it did not.
        h.by_role("img", "Profile picture of Ann Lee").await?;
        h.wait_for_text("Time zone").await?;
        h.wait_for_text("Gender").await?;

        // Add Public to Private appends the page's m.me link to the draft.
        h.fill("Reply", "Write to us:").await?;
        h.click("button", "Add Public to Private").await?;
        let reply = value(h, "Reply").await?;
        anyhow::ensure!(
            reply == "Write to us: https://m.me/AcmeOutdoor",
            "reply box holds {reply:?}"
        );
        h.screenshot("profile").await?;

        // View Media: the image large, the GIF animated (the original), the video playable.
        h.click("button", "View Media").await?;
        let image = h.by_role("img", "Image 1 of 3 from the consumer").await?;
        let gif = h
            .by_role("img", "GIF 2 of 3 from the consumer (animated)")
            .await?;
        for (what, el) in [("image", image), ("GIF", gif)] {
            let src = el.attr("src").await?.unwrap_or_default();
            anyhow::ensure!(
                !src.ends_with("/thumb") && !src.ends_with("/still"),
                "{what} shows {src}"
            );
        }
        let playable = h
            .browser
            .execute(
                "const v = document.querySelector('video.sc-media__video'); return !!v && v.controls;",
                vec![],
            )
            .await?;
        anyhow::ensure!(playable == serde_json::json!(true), "no playable video");
        h.screenshot("media").await?;
        h.click("button", "Done").await?;

        // Send Image: choose a file, see its preview, send it; the consumer gets it.
        h.click("button", "Add Image").await?;
        let input = h
            .browser
            .find(fantoccini::Locator::Css("#sc-image-file"))
            .await?;
        input.send_keys(&png.display().to_string()).await?;
        h.by_role("img", "Preview of answer.png").await?;
        h.screenshot("send-image").await?;
        h.click("button", "Send Image").await?;
        eventually("the consumer gets the image in Messenger", || {
            sb.facebook
                .inbox(&page, &ann)
                .iter()
                .any(|m| m.from_page && !m.attachments.is_empty())
        })
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn twitter_counter_counts_weighted_and_use_pastes() {
    for width in [360, 1280] {
        let (h, sb) = Harness::start_with_sandbox(&format!("social-widget-x-{width}"), width)
            .await
            .unwrap();
        let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
        sb.twitter
            .consumer_tweet(&bo, "@acme my tent leaks", vec![]);
        h.run(async |h| {
            h.agent_opens("Bo Diaz", "@acme my tent leaks").await?;
            h.show_widget().await?;
            h.wait_for_text("Followers").await?;
            h.wait_for_text("Biography").await?;
            h.screenshot("profile").await?;

            h.click("button", "Add Public to Private").await?;
            // In a narrow panel the conversation comes back to show the Reply box.
            let reply = value(h, "Reply").await?;
            anyhow::ensure!(
                reply.starts_with("https://twitter.com/messages/compose?recipient_id="),
                "reply box holds {reply:?}"
            );

            h.show_widget().await?;
            h.click("button", "Character Counter").await?;
            let label = "Text to count (Twitter reply)";
            h.fill(label, &"a".repeat(281)).await?;
            h.wait_for_text("281 / 280 — over the limit by 1").await?;
            let invalid = h
                .by_role("textbox", label)
                .await?
                .attr("aria-invalid")
                .await?;
            anyhow::ensure!(
                invalid.as_deref() == Some("true"),
                "aria-invalid {invalid:?}"
            );
            h.screenshot("over-limit").await?;
            h.fill(label, "Sorry! A new tent ships today").await?;
            h.wait_for_text("29 / 280").await?;
            // A line arriving live leaves the open tool and its text alone.
            sb.twitter
                .consumer_tweet(&bo, "@acme also the pole snapped", vec![]);
            // In a narrow panel the transcript waits behind the open widget: the line is
            // on the page, not on screen.
            h.until_js(
                "the live line on the page",
                "return document.body.textContent.includes('@acme also the pole snapped');",
            )
            .await?;
            let kept = value(h, label).await?;
            anyhow::ensure!(
                kept == "Sorry! A new tent ships today",
                "the counter holds {kept:?} after a live line"
            );
            h.click("button", "Use").await?;
            let reply = value(h, "Reply").await?;
            // Use adds to the draft, after the link already there.
            anyhow::ensure!(
                reply.starts_with("https://twitter.com/")
                    && reply.ends_with(" Sorry! A new tent ships today"),
                "reply {reply:?}"
            );
            Ok(())
        })
        .await;
    }
}

/// Tabs forward until the focus is on a control named `name` (at most 120 presses);
/// every control passed on the way must show its focus ring.
async fn tab_to(h: &Harness, name: &str) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    for _ in 0..120 {
        h.press(TAB).await?;
        let Some((label, ring)) = h.focused().await? else {
            continue;
        };
        anyhow::ensure!(ring, "no visible focus on {label:?}");
        if label == name {
            return Ok(seen);
        }
        seen.push(label);
    }
    anyhow::bail!("Tab never reached {name:?}; passed {seen:?}")
}

/// Every tool of the Social Widget is reached and worked by keyboard alone, each control
/// showing where the focus is, in a 360 px panel.
#[tokio::test]
async fn the_widget_works_by_keyboard_alone() {
    let (h, sb) = Harness::start_with_sandbox("social-widget-keyboard", 360)
        .await
        .unwrap();
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    sb.twitter
        .consumer_tweet(&bo, "@acme the zip broke", vec![]);
    h.run(async |h| {
        h.sign_in("1000", "agent@demo.example", "demo-agent")
            .await?;
        h.wait_for_path("/workspace").await?;
        h.conversation_link("Bo Diaz")
            .await?
            .send_keys(ENTER)
            .await?;
        h.wait_for_text("@acme the zip broke").await?;
        // In a narrow panel the Social Widget takes the conversation's place when asked.
        tab_to(h, "Tools").await?;
        h.press(ENTER).await?;
        h.wait_for_text("Followers").await?;
        for control in [
            "Add Public to Private",
            "Character Counter",
            "View Media",
            "Add Image",
        ] {
            tab_to(h, control).await?;
        }
        // Work the Character Counter: open it, type, Use pastes into the reply.
        h.browser
            .execute(
                "document.activeElement.blur(); window.scrollTo(0, 0);",
                vec![],
            )
            .await?;
        tab_to(h, "Character Counter").await?;
        h.press(ENTER).await?;
        let counter = h
            .by_role("textbox", "Text to count (Twitter reply)")
            .await?;
        counter.send_keys("Typed by keyboard").await?;
        h.wait_for_text("17 / 280").await?;
        tab_to(h, "Use").await?;
        h.press(ENTER).await?;
        let reply = value(h, "Reply").await?;
        anyhow::ensure!(reply.contains("Typed by keyboard"), "reply {reply:?}");
        h.screenshot("keyboard").await?;
        Ok(())
    })
    .await;
}

/// Drops `bytes` as a file named `name` of `mime` on Send Image's drop zone, as a desktop
/// drag and drop delivers it.
const DROP_FILE: &str = r#"
    const [hex, name, mime] = arguments;
    const bytes = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, { type: mime }));
    const zone = document.querySelector('.sc-image__drop');
    for (const type of ['dragenter', 'dragover', 'drop']) {
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    }
"#;

/// Records every upload progress bar the page shows from now on (its `max` and `value`).
const WATCH_PROGRESS: &str = r#"
    window.__progress = [];
    new MutationObserver(() => {
        for (const bar of document.querySelectorAll('progress')) {
            window.__progress.push([bar.max, bar.value, bar.closest('label')?.textContent.trim()]);
        }
    }).observe(document.body, { childList: true, subtree: true, attributes: true });
"#;

/// Send Image end to end in a 360 px panel: the wrong type and an oversized file refused
/// before anything is sent, a bad address refused, a dropped file previewed and sent with
/// its upload progress shown, and a pasted image address previewed and sent; the consumer
/// gets both images as replies.
#[tokio::test]
async fn send_image_checks_first_then_sends_dropped_files_and_pasted_urls() {
    let (h, sb) = Harness::start_with_sandbox("send-image", 360)
        .await
        .unwrap();
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    sb.twitter.consumer_tweet(
        &bo,
        "@acme is this the right pole?",
        vec![sandbox::twitter::MediaFile {
            mime: "image/png".into(),
            bytes: PNG.to_vec(),
        }],
    );
    let pasted = sb.twitter.timeline(&bo.id)[0].media_urls[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not an image").unwrap();
    let big = dir.path().join("big.png");
    std::fs::write(&big, vec![0u8; 6 * 1024 * 1024]).unwrap();
    // Our replies to Bo on X that carry an image.
    let brand_images = || {
        sb.twitter
            .timeline(&bo.id)
            .iter()
            .filter(|t| t.author_id != bo.id && !t.media_urls.is_empty())
            .count()
    };
    h.run(async |h| {
        h.agent_opens("Bo Diaz", "@acme is this the right pole?")
            .await?;
        h.show_widget().await?;
        h.click("button", "Add Image").await?;
        let file_input = h
            .browser
            .find(fantoccini::Locator::Css("#sc-image-file"))
            .await?;
        let send_disabled = async || -> anyhow::Result<bool> {
            Ok(h.by_role("button", "Send Image")
                .await?
                .attr("disabled")
                .await?
                .is_some())
        };

        // The tool fits the panel: nothing in it widens the page past 360 px.
        h.fits_width().await?;

        // Refused before sending: not an image, too big for Twitter, not a web address.
        file_input.send_keys(&notes.display().to_string()).await?;
        h.wait_for_text(
            "notes.txt: text/plain cannot be sent on a Twitter reply: JPEG, PNG, GIF or WEBP only",
        )
        .await?;
        anyhow::ensure!(send_disabled().await?, "Send Image enabled for a text file");
        file_input.send_keys(&big.display().to_string()).await?;
        h.wait_for_text("big.png: the image is 6.0 MB, over the 5 MB limit for a Twitter reply")
            .await?;
        anyhow::ensure!(send_disabled().await?, "Send Image enabled for 6 MB");
        h.fill("Image URL", "javascript:alert(1)").await?;
        h.click("button", "Preview").await?;
        h.wait_for_text("Paste an http(s) address of an image.")
            .await?;
        anyhow::ensure!(
            send_disabled().await?,
            "Send Image enabled for a bad address"
        );

        // A file dropped from the desktop: previewed, then sent with a progress bar.
        h.browser
            .execute(
                DROP_FILE,
                vec![
                    serde_json::json!(hex::encode(PNG)),
                    serde_json::json!("dropped.png"),
                    serde_json::json!("image/png"),
                ],
            )
            .await?;
        h.by_role("img", "Preview of dropped.png").await?;
        anyhow::ensure!(
            !send_disabled().await?,
            "Send Image disabled for a good file"
        );
        // The file replaced the address typed before: nothing stale stays in the field.
        let typed = h
            .browser
            .execute(
                "return document.getElementById('sc-image-url').value;",
                vec![],
            )
            .await?;
        anyhow::ensure!(typed == "", "Image URL still holds {typed} after the drop");
        h.screenshot("dropped").await?;
        h.browser.execute(WATCH_PROGRESS, vec![]).await?;
        h.click("button", "Send Image").await?;
        eventually("the dropped image reaches Twitter", || brand_images() == 1).await?;
        let bars = h
            .browser
            .execute("return window.__progress;", vec![])
            .await?;
        let shown = bars.as_array().cloned().unwrap_or_default();
        anyhow::ensure!(
            !shown.is_empty()
                && shown.iter().all(|b| {
                    b[0] == 100
                        && (0..=100).contains(&b[1].as_i64().unwrap_or(-1))
                        && b[2] == "Uploading"
                }),
            "upload progress shown: {bars}"
        );

        // An image address pasted: previewed from that address, then sent.
        h.click("button", "Add Image").await?;
        h.fill("Image URL", &pasted).await?;
        h.click("button", "Preview").await?;
        let preview = h.by_role("img", &format!("Preview of {pasted}")).await?;
        anyhow::ensure!(
            preview.attr("src").await?.as_deref() == Some(pasted.as_str()),
            "the preview is not the pasted image"
        );
        h.click("button", "Send Image").await?;
        eventually("the pasted image reaches Twitter", || brand_images() == 2).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_tools_note_stays_with_its_conversation() {
    let (h, sb) = Harness::start_with_sandbox("social-widget-note", 1280)
        .await
        .unwrap();
    let page = sb.facebook.pages()[0].clone();
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    let bo = sb.facebook.add_consumer("Bo Diaz", true);
    sb.facebook
        .consumer_message(&page, &ann, "Is my order on its way?", &[]);
    sb.facebook
        .consumer_message(&page, &bo, "Do you ship to Norway?", &[]);
    h.run(async |h| {
        h.agent_opens("Ann Lee", "Is my order on its way?").await?;
        h.click("button", "Add Public to Private").await?;
        h.wait_for_text("Added to the Reply box.").await?;
        h.open_conversation("Bo Diaz").await?;
        h.wait_for_text("Do you ship to Norway?").await?;
        let shown = h
            .browser
            .execute(
                "return document.body.innerText.includes('Added to the Reply box.')",
                vec![],
            )
            .await?;
        anyhow::ensure!(
            shown == serde_json::json!(false),
            "Ann's note followed the agent to Bo's conversation"
        );
        Ok(())
    })
    .await;
}
