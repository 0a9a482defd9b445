//! `shared::count` against the official twitter-text 3.1.0 (npm, pinned in
//! `tests/js/package-lock.json`): a few thousand deterministic pseudo-random texts —
//! ASCII, Latin-1, CJK, emoji with ZWJ sequences and skin tones, URLs with and without a
//! scheme, @mentions, combining marks — must get the same weighted length and validity.
//!
//! Needs `node` and `tests/js/node_modules`; `cargo xtask test` installs both. Without
//! them the test fails (it does not skip).

use shared::{Target, count};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TEXTS: usize = 4_000;

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Splitmix64: deterministic and good enough to vary the texts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn char_in(&mut self, lo: u32, hi: u32) -> char {
        loop {
            if let Some(c) = char::from_u32(lo + self.below((hi - lo + 1) as usize) as u32) {
                return c;
            }
        }
    }

    fn word(&mut self) -> String {
        let len = 1 + self.below(9);
        let upper = self.chance(15);
        (0..len)
            .map(|_| {
                let c = self.char_in('a' as u32, 'z' as u32);
                if upper || self.chance(5) {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }
}

const EMOJI: &[&str] = &[
    "😷",
    "👾",
    "😡",
    "🔥",
    "💩",
    "🐱",
    "☺",
    "☺\u{FE0F}",
    "❤",
    "❤\u{FE0F}",
    "✈\u{FE0F}",
    "©",
    "®",
    "™",
    "‼",
    "\u{FE0F}",
    "1\u{FE0F}\u{20E3}",
    "1\u{20E3}",
    "#\u{20E3}",
    "*\u{FE0F}\u{20E3}",
    "🇯🇵",
    "🇺🇸",
    "🇫",
    "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
    "👨\u{200D}👩\u{200D}👧\u{200D}👦",
    "👩\u{200D}💻",
    "👨🏽\u{200D}🚀",
    "🧑\u{200D}🤝\u{200D}🧑",
    "🏳\u{FE0F}\u{200D}🌈",
    "🙋🏽",
    "🙋\u{200D}♀\u{FE0F}",
    "👍🏿",
    "🤪",
    "🧕🏾",
    "🥰",
    "🫠",
    "⌚",
    "⭐",
    "🤷🏻\u{200D}♂\u{FE0F}",
];

const TLDS: &[&str] = &[
    "com",
    "co",
    "org",
    "net",
    "jp",
    "co.uk",
    "io",
    "dev",
    "museum",
    "xyz",
    "invalidtld",
    "москва",
    "みんな",
    "中国",
    "xn--p1ai",
    "COM",
    "Org",
    "a",
    "info",
    "tv",
];

const LABELS: &[&str] = &[
    "example",
    "twitter",
    "www",
    "t",
    "bücher",
    "例え",
    "sub-domain",
    "under_score",
    "x1",
    "a",
    "münchen",
    "тест",
    "😷",
    "-bad",
    "bad-",
    "ñandú",
    "xn--bcher-kva",
    "123",
];

fn host(rng: &mut Rng) -> String {
    let mut labels = Vec::new();
    for _ in 0..1 + rng.below(3) {
        labels.push(if rng.chance(60) {
            rng.pick(LABELS).to_owned()
        } else {
            rng.word()
        });
    }
    labels.push(rng.pick(TLDS).to_owned());
    labels.join(".")
}

fn path(rng: &mut Rng) -> String {
    let mut p = String::new();
    for _ in 0..1 + rng.below(3) {
        p.push('/');
        p.push_str(&rng.word());
        match rng.below(12) {
            0 => p.push_str("(foo)"),
            1 => p.push_str("_(bar)_baz"),
            2 => p.push('.'),
            3 => p.push(','),
            4 => p.push_str("-x_y~z"),
            5 => p.push_str("%20é"),
            6 => p.push_str("@user/"),
            7 => p.push('('),
            8 => p.push_str("!'"),
            _ => {}
        }
    }
    if rng.chance(20) {
        p.push('/');
    }
    p
}

fn url(rng: &mut Rng) -> String {
    let scheme = rng.pick(&["", "", "http://", "https://", "HTTP://", "Https://"]);
    if rng.chance(8) {
        let len = 1 + rng.below(45);
        let slug: String = (0..len)
            .map(|_| rng.pick(&["a", "Z", "9", "x", "0"]))
            .collect();
        let tail = rng.pick(&["", "/more", "?a=b", "?x=1&y", "."]);
        return format!("{}t.co/{slug}{tail}", rng.pick(&["http://", "https://"]));
    }
    let mut u = format!("{scheme}{}", host(rng));
    if rng.chance(10) {
        u.push_str(&format!(":{}", rng.below(70_000)));
    }
    if rng.chance(40) {
        u.push_str(&path(rng));
    }
    if rng.chance(20) {
        u.push_str(&format!(
            "?{}={}&{}",
            rng.word(),
            rng.word(),
            rng.pick(&["z=1", "q", "x.", "a=(b)"])
        ));
    }
    if rng.chance(10) {
        u.insert_str(
            0,
            rng.pick(&["-", "/", ".", "@", "#", "$", "_", "(", "\"", "é"]),
        );
    }
    u
}

fn piece(rng: &mut Rng) -> String {
    match rng.below(14) {
        0..=2 => rng.word(),
        3 => (0..1 + rng.below(4))
            .map(|_| rng.char_in(0xA0, 0xFF))
            .collect(),
        4 => (0..1 + rng.below(6))
            .map(|_| match rng.below(4) {
                0 => rng.char_in(0x3040, 0x309F),
                1 => rng.char_in(0xAC00, 0xD7A3),
                2 => rng
                    .pick(&["，", "。", "、", "「", "」"])
                    .chars()
                    .next()
                    .unwrap(),
                _ => rng.char_in(0x4E00, 0x9FFF),
            })
            .collect(),
        5 | 6 => {
            let mut e = rng.pick(EMOJI).to_owned();
            if rng.chance(15) {
                e.push(rng.char_in(0x1F3FB, 0x1F3FF));
            }
            if rng.chance(15) {
                e.push('\u{200D}');
                e.push_str(rng.pick(EMOJI));
            }
            if rng.chance(10) {
                e.push(rng.char_in(0x1F300, 0x1FAFF));
            }
            e
        }
        7 | 8 => url(rng),
        9 => format!("{}{}", rng.pick(&["@", "#", "$", "＠"]), rng.word()),
        10 => {
            let mut s = rng
                .pick(&["e", "a", "o", "n", "\u{5E9}", "\u{1100}", "A", "i"])
                .to_owned();
            for _ in 0..1 + rng.below(3) {
                s.push(
                    rng.pick(&[
                        "\u{301}", "\u{308}", "\u{303}", "\u{5BC}", "\u{5C1}", "\u{1161}",
                        "\u{327}",
                    ])
                    .chars()
                    .next()
                    .unwrap(),
                );
            }
            s
        }
        11 => rng
            .pick(&[
                " ", ", ", ".", "!", "?", "...", "…", "—", "–", "‘", "’", "“", "”", "′", "\n",
                "\t", "(", ")", "\u{200B}", "\u{200D}", "\u{2028}", "\u{202A}", "\u{2066}",
                "\u{3000}", "://", "\u{FEFF}", "\u{FFFE}",
            ])
            .to_owned(),
        12 => rng.char_in(0x2000, 0x206F).to_string(),
        _ => match rng.below(3) {
            0 => rng.char_in(0x80, 0xFFFF),
            1 => rng.char_in(0x1_0000, 0x1_FFFF),
            _ => rng.char_in(0x20, 0x7E),
        }
        .to_string(),
    }
}

fn texts() -> Vec<String> {
    let mut rng = Rng(0x5EED_C0DE);
    (0..TEXTS)
        .map(|i| {
            let pieces = if i % 50 == 0 { 150 } else { 1 + rng.below(30) };
            let mut text = String::new();
            for _ in 0..pieces {
                if !text.is_empty() {
                    text.push_str(rng.pick(&[" ", " ", " ", "", "\n", ", ", "  "]));
                }
                text.push_str(&piece(&mut rng));
            }
            text
        })
        .collect()
}

/// twitter-text 3.1.0's `(weightedLength, valid)` for every text, through `js/count.js`.
fn reference(texts: &[String]) -> Vec<(usize, bool)> {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "`node` is not installed: run `cargo xtask test` (or `cargo xtask setup`), which \
         installs Node.js and npm and runs `npm ci --prefix tests/js`"
    );
    let module = js_dir().join("node_modules/twitter-text/package.json");
    let manifest = std::fs::read_to_string(&module).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `npm ci --prefix tests/js` (`cargo xtask test` does)",
            module.display()
        )
    });
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        manifest["version"], "3.1.0",
        "tests/js/node_modules is stale: run `npm ci --prefix tests/js`"
    );

    let mut input = String::new();
    for text in texts {
        input.push_str(&serde_json::json!({ "text": text }).to_string());
        input.push('\n');
    }
    let mut child = Command::new("node")
        .arg(js_dir().join("count.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting node");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("running node");
    writer.join().unwrap().expect("writing to node");
    assert!(
        out.status.success(),
        "node js/count.js failed: {}",
        out.status
    );
    let lines: Vec<(usize, bool)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["weightedLength"].as_u64().unwrap() as usize,
                v["valid"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines.len(),
        texts.len(),
        "node answered a different number of lines"
    );
    lines
}

#[test]
fn weighted_length_matches_twitter_text_js() {
    let texts = texts();
    let theirs = reference(&texts);
    let mut mismatches = Vec::new();
    for (text, &(length, valid)) in texts.iter().zip(&theirs) {
        let ours = count(Target::TwitterPublic, text);
        if (ours.length, ours.valid) != (length, valid) {
            mismatches.push(format!(
                "{text:?}: ours (length {}, valid {}), twitter-text ({length}, {valid})",
                ours.length, ours.valid
            ));
        }
    }
    println!(
        "differential: {} texts compared with twitter-text 3.1.0, {} mismatches",
        texts.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} texts differ from twitter-text 3.1.0; the first:\n{}",
        mismatches.len(),
        texts.len(),
        mismatches
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
