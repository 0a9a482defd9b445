//! The SPA's budgets, measured in headless Chromium and printed (`cargo xtask budgets`
//! builds what this needs and runs it). This machine is shared and noisy, so every time is
//! printed beside a baseline measured the same way in the same run, as a ratio:
//!
//! - navigation → interactive transcript (the workspace's `sc-interactive` user-timing
//!   mark) against the minimal Leptos page in `tests/baseline`, built and served the same
//!   way (same Trunk settings, same server, same browser);
//! - one Character Counter update per keystroke on a 63,206-character text (the input
//!   event to the count on screen) against the official twitter-text (bundled by esbuild
//!   from `tests/js`) counting the same text in the same page.
//!
//! Settings: `BUDGET_BASELINE_DIR` (the baseline's Trunk dist), `TWITTER_TEXT_JS` (the
//! bundle), `SOCIALCONNECT_WIDGET_DIR` and `CHROMEDRIVER` as for the browser tests.

use anyhow::{Context, Result, bail};
use e2e::Harness;
use serde_json::json;
use std::time::Duration;

/// Timed page loads per side.
const LOADS: usize = 9;
const KEYSTROKES: usize = 40;
const COUNTER_TEXT_CHARS: usize = 63_206;
const TRANSCRIPT_LINES: usize = 30;

struct Measured {
    ours_load: f64,
    base_load: f64,
    ours_key: f64,
    theirs_key: f64,
    shown: String,
    weighted: i64,
}

/// Signs in, opens the conversation, then measures both budgets against their peers.
async fn measure(h: &Harness, base_url: &str, twitter_js: &str) -> Result<Measured> {
    h.sign_in("1000", "agent@demo.example", "demo-agent")
        .await?;
    h.wait_for_path("/workspace").await?;
    h.open_conversation("Bo Diaz").await?;
    let last = format!("@acme question {} about my order", TRANSCRIPT_LINES - 1);
    h.wait_for_text(&last).await?;
    let ours_url = h.browser.current_url().await?.to_string();

    // Navigation → interactive: one untimed load of each (the agent's sign-in already
    // loaded ours, so both start cached), then LOADS each, alternating so both see the
    // same machine.
    interactive_after(h, base_url).await?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..LOADS {
        ours.push(interactive_after(h, &ours_url).await?);
        base.push(interactive_after(h, base_url).await?);
    }

    // The Character Counter on the Twitter reply, beside twitter-text in the same page.
    h.browser.goto(&ours_url).await?;
    h.wait_for_text(&last).await?;
    h.click("button", "Character Counter").await?;
    h.by_role("textbox", "Text to count (Twitter reply)")
        .await?;
    // WebDriver runs a script as a function body: the bundle's `var twttr` is kept.
    h.browser
        .execute(&format!("{twitter_js}\nwindow.twttr = twttr;"), vec![])
        .await?;
    let text = counter_text();
    // Once untimed, so both sides have compiled and warmed what they run.
    h.browser
        .execute_async(COUNTER_RUN, vec![json!(text), json!(3)])
        .await?;
    let run = h
        .browser
        .execute_async(COUNTER_RUN, vec![json!(text), json!(KEYSTROKES)])
        .await?;
    Ok(Measured {
        ours_load: median(ours),
        base_load: median(base),
        ours_key: median(floats(&run, "ours")?),
        theirs_key: median(floats(&run, "theirs")?),
        shown: run["shown"].as_str().unwrap_or_default().to_owned(),
        weighted: run["weighted"].as_i64().unwrap_or_default(),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A long reply as agents paste them: prose, a link, a mention, CJK and emoji, repeated to
/// `COUNTER_TEXT_CHARS` characters, ending in a space so each keystroke adds a character
/// that counts.
fn counter_text() -> String {
    let piece = "Thanks for waiting — your replacement tent ships today from https://shop.example.com/orders/12345 \
                 and @acme_help can track it. 配送は明日です。 ありがとうございます 🎉👍🏽 ";
    let mut text: String = piece.chars().cycle().take(COUNTER_TEXT_CHARS - 1).collect();
    text.push(' ');
    text
}

/// Loads `url` fresh and returns when its `sc-interactive` mark was set, in ms after
/// navigation start.
async fn interactive_after(h: &Harness, url: &str) -> Result<f64> {
    h.browser.goto(url).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let at = h
            .browser
            .execute(
                "const m = performance.getEntriesByName('sc-interactive', 'mark')[0];
                 return m ? m.startTime : null;",
                vec![],
            )
            .await?;
        if let Some(ms) = at.as_f64() {
            return Ok(ms);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{url} never marked itself interactive");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The baseline page, served by the same server code as the widget.
async fn serve_baseline(dir: std::path::PathBuf) -> Result<(String, tempfile::TempDir)> {
    let data = tempfile::tempdir()?;
    let mut args = server::config::ServeArgs::for_tests(data.path().to_path_buf());
    args.widget_dir = dir;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(server::run(args, listener, std::future::pending()));
    let http = reqwest::Client::new();
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((url, data))
}

/// Types `KEYSTROKES` characters at the end of `text` in the Character Counter, timing
/// each from the input event to the count changing on screen; then twitter-text's
/// `parseTweet` on the same texts, writing its count to the page too.
const COUNTER_RUN: &str = r#"
const [text, strokes, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const box = document.getElementById('sc-counter-text');
const out = document.getElementById('sc-counter-count');
const tt = twttr.parseTweet ? twttr : twttr.default;
const peer = document.createElement('p');
document.body.appendChild(peer);
const changed = () => new Promise((resolve) => {
  const mo = new MutationObserver(() => { mo.disconnect(); resolve(); });
  mo.observe(out, { childList: true, characterData: true, subtree: true });
});
(async () => {
  const ours = [], theirs = [];
  let value = text, weighted = 0;
  for (let i = 0; i < strokes; i++) {
    value += 'a';
    let t0 = performance.now();
    const shown = changed();
    box.value = value;
    box.dispatchEvent(new Event('input', { bubbles: true }));
    await shown;
    ours.push(performance.now() - t0);
    t0 = performance.now();
    weighted = tt.parseTweet(value).weightedLength;
    peer.textContent = `${weighted} / 280`;
    theirs.push(performance.now() - t0);
  }
  done({ ours, theirs, shown: out.textContent, weighted });
})();
"#;

fn floats(v: &serde_json::Value, key: &str) -> Result<Vec<f64>> {
    v[key]
        .as_array()
        .with_context(|| format!("no {key} in {v}"))?
        .iter()
        .map(|x| x.as_f64().context("a time"))
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let baseline_dir = std::env::var_os("BUDGET_BASELINE_DIR")
        .context("BUDGET_BASELINE_DIR: the baseline page's dist (cargo xtask budgets)")?;
    let twitter_js = std::fs::read_to_string(
        std::env::var_os("TWITTER_TEXT_JS").context("TWITTER_TEXT_JS: the bundled twitter-text")?,
    )
    .context("reading the twitter-text bundle")?;
    let (baseline, _baseline_data) = serve_baseline(baseline_dir.into()).await?;

    let (h, sb) = Harness::start_with_sandbox("budgets", 1280).await?;
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    for i in 0..TRANSCRIPT_LINES {
        sb.twitter
            .consumer_tweet(&bo, &format!("@acme question {i} about my order"), vec![]);
    }
    let mut measured = None;
    h.run(async |h| {
        measured = Some(measure(h, &format!("{baseline}/"), &twitter_js).await?);
        Ok(())
    })
    .await;
    let Measured {
        ours_load,
        base_load,
        ours_key,
        theirs_key,
        shown,
        weighted,
    } = measured.context("nothing measured")?;

    println!("SPA budgets (headless Chromium; times as ratios against a baseline in the same run)");
    println!("  navigation -> interactive transcript ({TRANSCRIPT_LINES} lines)");
    println!(
        "    median of {LOADS} loads   ours {ours_load:>8.1} ms   minimal Leptos page {base_load:>8.1} ms   {:.2}x",
        ours_load / base_load
    );
    println!(
        "  Character Counter, one keystroke on {COUNTER_TEXT_CHARS} characters (median of {KEYSTROKES})"
    );
    println!(
        "    ours, input to count on screen {ours_key:>8.2} ms   twitter-text parseTweet {theirs_key:>8.2} ms   {:.2}x ({})",
        ours_key / theirs_key,
        if ours_key < theirs_key {
            "ours is faster"
        } else {
            "ours is SLOWER: over budget"
        }
    );
    let agrees = shown.starts_with(&format!("{weighted} / 280"));
    println!(
        "    counts agree: ours shows {shown:?}, twitter-text says {weighted}{}",
        if agrees { "" } else { "  MISMATCH" }
    );
    Ok(())
}
