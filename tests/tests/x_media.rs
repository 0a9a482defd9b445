//! X GIFs and videos in a real browser, in a 360 px panel: X delivers both as MP4 with a
//! preview still. The transcript shows a GIF's still and a video's poster under a play
//! control that plays it in place; View Media plays the GIF as a looping, muted video that
//! starts by itself (and can be paused), and the video with its controls — both from our
//! copies under `/media/`.

use e2e::{ENTER, Harness};
use sandbox::twitter::{GIF_MP4, MediaFile};
use serde_json::{Value, json};
use std::time::Duration;

/// Runs `script` (which returns a boolean) until it holds; how long it takes is not
/// asserted, only that it comes true.
async fn until(h: &Harness, what: &str, script: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if h.browser.execute(script, vec![]).await? == json!(true) {
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the page says about the video elements matching `selector`.
const VIDEO_FACTS: &str = r#"
    const v = document.querySelector(arguments[0]);
    if (!v) { return null; }
    return {
        src: v.getAttribute('src'), loop: v.loop, muted: v.muted,
        mutedAttr: v.hasAttribute('muted'), autoplay: v.autoplay,
        playsinline: v.hasAttribute('playsinline'), controls: v.controls,
        focused: document.activeElement === v, error: v.error && v.error.code,
    };
"#;

/// Playing for real: enough data for the current frame, not paused, time moving.
fn playing(selector: &str) -> String {
    format!(
        "const v = document.querySelector('{selector}');
         return !!v && v.readyState >= 2 && !v.paused && v.currentTime > 0;"
    )
}

#[tokio::test]
async fn an_x_gif_plays_as_a_looping_video_and_a_video_behind_a_play_control() {
    let (h, sb) = Harness::start_with_sandbox("x-media", 360).await.unwrap();
    let brand = sb.twitter.brands()[0].0.clone();
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    let (_, gif) = sandbox::facebook::MediaKind::Gif.generate();
    sb.twitter.consumer_tweet(
        &bo,
        "@acme the zip does this",
        vec![MediaFile {
            mime: "image/gif".into(),
            bytes: gif,
        }],
    );
    // A video X serves as uploaded: the fixture MP4, with a trailing `free` box so it is
    // not byte-for-byte the GIF's.
    let mut video = GIF_MP4.to_vec();
    video.extend_from_slice(b"\0\0\0\x08free");
    sb.twitter
        .consumer_dm(
            &bo,
            &brand,
            "and on video",
            Some(MediaFile {
                mime: "video/mp4".into(),
                bytes: video,
            }),
        )
        .unwrap();

    h.run(async |h| {
        h.agent_opens("Bo Diaz", "@acme the zip does this").await?;
        h.wait_for_text("and on video").await?;

        // The transcript: the GIF as its preview still (our copy's poster), marked GIF.
        let still = h.by_role("img", "GIF from Bo Diaz").await?;
        let src = still.attr("src").await?.unwrap_or_default();
        anyhow::ensure!(
            src.starts_with("/media/") && src.ends_with("/poster"),
            "the GIF shows {src}"
        );
        until(
            h,
            "the still is loaded",
            "const i = [...document.querySelectorAll('img.sc-line__image')]
                 .find((i) => i.alt === 'GIF from Bo Diaz');
             return !!i && i.complete && i.naturalWidth > 0;",
        )
        .await?;
        anyhow::ensure!(
            h.browser
                .execute(
                    "return document.querySelectorAll('.sc-transcript video').length;",
                    vec![]
                )
                .await?
                == json!(0),
            "nothing plays in the transcript by itself"
        );
        // The video: its poster under a visible play control.
        let play = h.by_role("button", "Play video from Bo Diaz").await?;
        until(
            h,
            "the poster is loaded",
            "const i = document.querySelector('.sc-line__play img.sc-line__poster');
             return !!i && i.complete && i.naturalWidth > 0 && i.src.endsWith('/poster');",
        )
        .await?;
        h.screenshot("transcript").await?;

        // Played by keyboard: the player takes its place, focused, with its controls.
        play.send_keys(ENTER).await?;
        let facts = h
            .browser
            .execute(VIDEO_FACTS, vec![json!("video.sc-line__player")])
            .await?;
        anyhow::ensure!(
            facts["controls"] == json!(true) && facts["focused"] == json!(true),
            "the player: {facts}"
        );
        until(
            h,
            "the video plays in the transcript",
            &playing("video.sc-line__player"),
        )
        .await?;

        // View Media: the GIF loops, muted, by itself, from our copy.
        h.show_widget().await?;
        h.click("button", "View Media").await?;
        let gif = "video.sc-media__video--gif";
        // Looked at, as the agent would: Chromium pauses a muted video that plays by
        // itself while it is off screen.
        until(
            h,
            "View Media shows the GIF",
            &format!(
                "const v = document.querySelector('{gif}');
                 if (v) {{ v.scrollIntoView({{block: 'center'}}); }}
                 return !!v;"
            ),
        )
        .await?;
        until(h, "the GIF plays in View Media", &playing(gif)).await?;
        let facts: Value = h.browser.execute(VIDEO_FACTS, vec![json!(gif)]).await?;
        for key in ["loop", "muted", "mutedAttr", "autoplay", "playsinline"] {
            anyhow::ensure!(facts[key] == json!(true), "{key}: {facts}");
        }
        anyhow::ensure!(
            facts["controls"] == json!(false),
            "a GIF has no player: {facts}"
        );
        let src = facts["src"].as_str().unwrap_or_default();
        anyhow::ensure!(
            src.strip_prefix("/media/")
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())),
            "the GIF plays {src}, not our copy"
        );
        // It goes round: time comes back to the start at least once.
        until(
            h,
            "the GIF loops",
            &format!(
                "const v = document.querySelector('{gif}');
                 if (v.__looped === undefined) {{
                     v.__looped = false; v.__last = 0;
                     v.addEventListener('timeupdate', () => {{
                         if (v.currentTime < v.__last) {{ v.__looped = true; }}
                         v.__last = v.currentTime;
                     }});
                 }}
                 return v.__looped === true;"
            ),
        )
        .await?;
        // The video: with its controls, from our copy.
        let facts = h
            .browser
            .execute(
                VIDEO_FACTS,
                vec![json!("video.sc-media__video:not(.sc-media__video--gif)")],
            )
            .await?;
        anyhow::ensure!(
            facts["controls"] == json!(true)
                && facts["src"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("/media/")),
            "the video: {facts}"
        );
        h.screenshot("view-media").await?;

        // The GIF can be paused, by keyboard, and played again.
        h.by_role("button", "Pause GIF 1 of 2")
            .await?
            .send_keys(ENTER)
            .await?;
        until(
            h,
            "the GIF is paused",
            &format!("return document.querySelector('{gif}').paused;"),
        )
        .await?;
        h.by_role("button", "Play GIF 1 of 2")
            .await?
            .send_keys(ENTER)
            .await?;
        until(h, "the GIF plays again", &playing(gif)).await?;
        Ok(())
    })
    .await;
}
