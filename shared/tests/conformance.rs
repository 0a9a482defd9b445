//! twitter-text's own conformance file (`validate.yml`, Apache-2.0, © Twitter; its licence
//! beside it in `tests/conformance/`), kept in the repository so a fresh clone runs it:
//! every case of its length sections must pass.
//!
//! The sections and the configuration twitter-text's runner gives each
//! (`js/test/conformance.html`):
//! - `tweets` — `isValidTweetText(text, configs.version1)`: 140 code points;
//! - `WeightedTweetsCounterTest` — `parseTweet(text, configs.version2)`: weighted, but
//!   every code point of an emoji sequence counted on its own;
//! - `WeightedTweetsWithDiscountedEmojiCounterTest` — `parseTweet(text, configs.version3)`;
//! - `UnicodeDirectionalMarkerCounterTest` — `parseTweet(text)`, the default, v3.
//!
//! The v3 sections go through `count(Target::TwitterPublic, ..)` itself; v1 and v2 through
//! [`twitter::parse`] with those configurations, the same code.

use serde::Deserialize;
use shared::Target;
use shared::count::{count, twitter};
use std::collections::BTreeMap;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/conformance/twitter-text-validate.yml"
);

#[derive(Deserialize)]
struct File {
    tests: BTreeMap<String, Vec<Case>>,
}

#[derive(Deserialize)]
struct Case {
    description: String,
    text: String,
    expected: serde_norway::Value,
}

#[derive(Deserialize)]
struct Weighted {
    #[serde(rename = "weightedLength")]
    weighted_length: usize,
    valid: bool,
}

fn sections() -> BTreeMap<String, Vec<Case>> {
    let yaml = std::fs::read_to_string(FILE)
        .unwrap_or_else(|e| panic!("reading the conformance file {FILE}: {e}"));
    serde_norway::from_str::<File>(&yaml)
        .expect("parsing the conformance file")
        .tests
}

#[test]
fn every_length_case_of_validate_yml_passes() {
    let sections = sections();
    let mut failures = Vec::new();
    let mut passed = 0;
    for (section, config) in [
        ("WeightedTweetsCounterTest", Some(twitter::V2)),
        ("WeightedTweetsWithDiscountedEmojiCounterTest", None),
        ("UnicodeDirectionalMarkerCounterTest", None),
    ] {
        let cases = sections
            .get(section)
            .unwrap_or_else(|| panic!("no section {section} in {FILE}"));
        assert!(!cases.is_empty(), "{section} is empty");
        for case in cases {
            let want: Weighted = serde_norway::from_value(case.expected.clone())
                .unwrap_or_else(|e| panic!("{section} / {}: {e}", case.description));
            let got = match config {
                Some(config) => {
                    let p = twitter::parse(&case.text, &config);
                    (p.weighted_length, p.valid)
                }
                None => {
                    let c = count(Target::TwitterPublic, &case.text);
                    assert_eq!(c.limit, 280);
                    (c.length, c.valid)
                }
            };
            if got == (want.weighted_length, want.valid) {
                passed += 1;
            } else {
                failures.push(format!(
                    "{section} / {}: got (weightedLength {}, valid {}), want ({}, {})",
                    case.description, got.0, got.1, want.weighted_length, want.valid
                ));
            }
        }
    }

    let tweets = sections.get("tweets").expect("no section tweets");
    for case in tweets {
        let want: bool = serde_norway::from_value(case.expected.clone()).unwrap();
        let got = twitter::parse(&case.text, &twitter::V1).valid;
        if got == want {
            passed += 1;
        } else {
            failures.push(format!(
                "tweets / {}: got valid {got}, want {want}",
                case.description
            ));
        }
    }

    println!(
        "validate.yml: {passed} length cases passed, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // 8 tweets + 20 v2 + 22 v3 + 2 directional, as in twitter-text 3.1.0's file.
    assert_eq!(
        passed, 52,
        "the conformance file changed: review its sections"
    );
}
