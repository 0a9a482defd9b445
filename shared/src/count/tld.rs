//! The top-level domains twitter-text 3.1.0 recognises (`validGTLD` then `validCCTLD`,
//! Apache-2.0, © Twitter), one a line in the library's own order, and the matcher of
//! its `(?:gTLD|ccTLD|punycode)` alternation.

use super::twitter::canon;
use std::sync::OnceLock;

const GTLD: &str = include_str!("gtld.txt");
const CCTLD: &str = include_str!("cctld.txt");

struct Tlds {
    /// ASCII ones, lowercase, sorted for binary search.
    ascii: Vec<&'static str>,
    longest_ascii: usize,
    /// The others in the alternation's order (gTLDs first), canonicalised UTF-16.
    other: Vec<Vec<u16>>,
}

fn tlds() -> &'static Tlds {
    static TLDS: OnceLock<Tlds> = OnceLock::new();
    TLDS.get_or_init(|| {
        let mut ascii = Vec::new();
        let mut other = Vec::new();
        for tld in GTLD.lines().chain(CCTLD.lines()).filter(|l| !l.is_empty()) {
            if tld.is_ascii() {
                ascii.push(tld);
            } else {
                other.push(tld.encode_utf16().map(canon).collect());
            }
        }
        ascii.sort_unstable();
        ascii.dedup();
        let longest_ascii = ascii.iter().map(|t| t.len()).max().unwrap_or(0);
        Tlds {
            ascii,
            longest_ascii,
            other,
        }
    })
}

/// After a TLD: `(?=[^0-9a-zA-Z@+-]|$)`, with `end` the end of the string searched.
fn boundary(s: &[u16], at: usize, end: usize) -> bool {
    at >= end || !matches!(s[at], 0x30..=0x39 | 0x41..=0x5A | 0x61..=0x7A | 0x40 | 0x2B | 0x2D)
}

/// The end of the TLD (`gTLD|ccTLD|xn--…`) starting at `at`, searching `s[..end]`.
pub fn tld_at(s: &[u16], at: usize, end: usize) -> Option<usize> {
    let c = *s.get(at).filter(|_| at < end)?;
    let tlds = tlds();
    if c < 0x80 {
        let run = s[at..end]
            .iter()
            .take_while(|&&u| u < 0x80 && (u as u8).is_ascii_alphanumeric())
            .count();
        if run > 0 && run <= tlds.longest_ascii && boundary(s, at + run, end) {
            let lower: String = s[at..at + run]
                .iter()
                .map(|&u| (u as u8).to_ascii_lowercase() as char)
                .collect();
            if tlds.ascii.binary_search(&lower.as_str()).is_ok() {
                return Some(at + run);
            }
        }
        // validPunycode: xn--[\-0-9a-z]+ (no boundary check)
        let prefix = [0x78, 0x6E, 0x2D, 0x2D];
        if end - at > 4
            && s[at..at + 4]
                .iter()
                .map(|&u| canon(u))
                .eq(prefix.map(canon))
        {
            let body = s[at + 4..end]
                .iter()
                .take_while(|&&u| u == 0x2D || (u < 0x80 && (u as u8).is_ascii_alphanumeric()))
                .count();
            if body > 0 {
                return Some(at + 4 + body);
            }
        }
        return None;
    }
    tlds.other.iter().find_map(|tld| {
        let stop = at + tld.len();
        (stop <= end
            && s[at..stop].iter().zip(tld).all(|(&u, &t)| canon(u) == t)
            && boundary(s, stop, end))
        .then_some(stop)
    })
}
