//! `cargo bench -p shared`: nanoseconds per count of a 280-character tweet and of a
//! 63,206-character mixed text (Facebook's post limit, the longest the widget counts on
//! every keystroke). Plain `Instant`; no harness.

use shared::{Target, count};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A mixed text of exactly `chars` scalar values: words, accents, CJK, emoji (a ZWJ
/// family, a skin tone), URLs with and without scheme, mentions.
fn mixed(chars: usize) -> String {
    const PIECES: &[&str] = &[
        "Hello ",
        "@brand ",
        "thanks for https://example.com/help?id=42 ",
        "naïve café ",
        "故人西辞黄鹤楼 ",
        "😷 ",
        "👨\u{200d}👩\u{200d}👧\u{200d}👦 ",
        "🙋🏽 ",
        "see www.example.co.uk/x ",
        "e\u{301} ",
        "#support ",
        "1234567890 ",
    ];
    let mut text: String = PIECES.iter().cycle().take(chars).copied().collect();
    let cut = text
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| i);
    text.truncate(cut);
    text
}

fn bench(name: &str, target: Target, text: &str) {
    let length = count(target, text).length;
    let mut runs = 0u32;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) || runs < 10 {
        black_box(count(black_box(target), black_box(text)));
        runs += 1;
    }
    let ns = started.elapsed().as_nanos() / u128::from(runs);
    println!(
        "{name}: {} chars, length {length}: {ns} ns per count ({runs} runs)",
        text.chars().count()
    );
}

fn main() {
    let tweet = mixed(280);
    let long = mixed(63_206);
    bench("tweet, twitter-public", Target::TwitterPublic, &tweet);
    bench("long text, twitter-public", Target::TwitterPublic, &long);
    bench("long text, facebook-post", Target::FacebookPost, &long);
}
