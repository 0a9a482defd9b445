//! Twitter/X's weighted length: a port of `parseTweet` from twitter-text 3.1.0 (the
//! JavaScript library, Apache-2.0, © Twitter), kept faithful to its behaviour.
//!
//! Like the library it works on the NFC-normalised text in UTF-16 code units, so its
//! indices, its surrogate handling and its URL length limit match exactly. Its regular
//! expressions (`extractUrl`, `validAsciiDomain`, `validTcoUrl`, the TLD lists and
//! twemoji's emoji expression) are replaced by hand-written matchers with the same
//! backtracking outcome, memoised so a whole text is scanned in linear time — the widget
//! counts on every keystroke.

use super::{emoji, tld::tld_at};
use std::collections::HashMap;

/// One of twitter-text's configurations (`config/v1.json`, `v2.json`, `v3.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub max_weighted_length: usize,
    pub scale: u32,
    pub default_weight: u32,
    /// `(first, last, weight)` over UTF-16 code units, first match wins.
    pub ranges: &'static [(u16, u16, u32)],
    /// Count a whole emoji sequence (twemoji's) as one character of `default_weight`.
    pub emoji_parsing: bool,
    /// What every URL weighs, whatever its length (the t.co length).
    pub transformed_url_length: u32,
}

const RANGES: &[(u16, u16, u32)] = &[
    (0x0000, 0x10FF, 100),
    (0x2000, 0x200D, 100),
    (0x2010, 0x201F, 100),
    (0x2032, 0x2037, 100),
];

/// The 140-character era: every code point weighs 1.
pub const V1: Config = Config {
    max_weighted_length: 140,
    scale: 1,
    default_weight: 1,
    ranges: &[],
    emoji_parsing: false,
    transformed_url_length: 23,
};

/// 280 weighted characters: the ranges weigh 1, everything else 2.
pub const V2: Config = Config {
    max_weighted_length: 280,
    scale: 100,
    default_weight: 200,
    ranges: RANGES,
    emoji_parsing: false,
    transformed_url_length: 23,
};

/// V2 where an emoji sequence (ZWJ, skin tone, flag, keycap…) counts once: X today.
pub const V3: Config = Config {
    emoji_parsing: true,
    ..V2
};

/// What `parseTweet` reports that the counter needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub weighted_length: usize,
    /// Not empty, within the limit, and free of U+FFFE, U+FEFF and U+FFFF.
    pub valid: bool,
}

/// twitter-text's `parseTweet(text, config)`: weighted length and validity.
pub fn parse(text: &str, config: &Config) -> Parsed {
    let s = nfc_utf16(text);
    let urls = extract_urls(&s);
    let emoji = if config.emoji_parsing {
        emoji::find_all(&s)
    } else {
        Vec::new()
    };
    let (mut next_url, mut next_emoji) = (urls.iter().peekable(), emoji.iter().peekable());
    let mut weighted: u64 = 0;
    let mut valid = true;
    let mut i = 0;
    while i < s.len() {
        while next_url.next_if(|u| u.start < i).is_some() {}
        while next_emoji.next_if(|e| e.0 < i).is_some() {}
        if let Some(url) = next_url.next_if(|u| u.start == i) {
            weighted += u64::from(config.transformed_url_length * config.scale);
            i += url.len - 1;
        } else if let Some(&(_, len)) = next_emoji.next_if(|e| e.0 == i) {
            weighted += u64::from(config.default_weight);
            i += len - 1;
        } else {
            if is_high(s[i]) && s.get(i + 1).is_some_and(|&u| is_low(u)) {
                i += 1;
            }
            weighted += u64::from(weight(s[i], config));
        }
        if valid {
            valid = !s.get(i).is_some_and(|&u| is_invalid(u));
        }
        i += 1;
    }
    let weighted_length = (weighted / u64::from(config.scale)) as usize;
    Parsed {
        weighted_length,
        valid: valid && weighted_length > 0 && weighted_length <= config.max_weighted_length,
    }
}

fn weight(u: u16, config: &Config) -> u32 {
    config
        .ranges
        .iter()
        .find(|&&(first, last, _)| first <= u && u <= last)
        .map_or(config.default_weight, |&(_, _, w)| w)
}

/// `text.normalize()` (NFC) as UTF-16 code units.
fn nfc_utf16(text: &str) -> Vec<u16> {
    super::nfc::nfc(text).encode_utf16().collect()
}

fn is_high(u: u16) -> bool {
    (0xD800..=0xDBFF).contains(&u)
}

fn is_low(u: u16) -> bool {
    (0xDC00..=0xDFFF).contains(&u)
}

/// `invalidCharsGroup`
fn is_invalid(u: u16) -> bool {
    matches!(u, 0xFFFE | 0xFEFF | 0xFFFF)
}

/// JavaScript's `Canonicalize` for a case-insensitive, non-Unicode regular expression:
/// the simple uppercase, unless that is not one code unit or maps non-ASCII to ASCII.
pub(crate) fn canon(u: u16) -> u16 {
    if u < 0x80 {
        return u16::from((u as u8).to_ascii_uppercase());
    }
    let Some(c) = char::from_u32(u32::from(u)) else {
        return u;
    };
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(x), None) if (0x80..0x1_0000).contains(&u32::from(x)) => x as u16,
        _ => u,
    }
}

fn ascii_letter_or_digit(u: u16) -> bool {
    u < 0x80 && (u as u8).is_ascii_alphanumeric()
}

fn in_latin_accents(u: u16) -> bool {
    matches!(u,
        0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0xFF | 0x0100..=0x024F | 0x0253 | 0x0254
        | 0x0256 | 0x0257 | 0x0259 | 0x025B | 0x0263 | 0x0268 | 0x026F | 0x0272 | 0x0289
        | 0x028B | 0x02BB | 0x0300..=0x036F | 0x1E00..=0x1EFF)
}

/// `latinAccentChars` under the `i` flag: also what shares a canonical form with one of
/// them (U+0345's is U+0399; U+023F's and U+0240's lie outside the ranges).
fn latin_accent(u: u16) -> bool {
    let c = canon(u);
    in_latin_accents(u) || in_latin_accents(c) || matches!(c, 0x0399 | 0x2C7E | 0x2C7F)
}

/// `cyrillicLettersAndMarks` under the `i` flag.
fn cyrillic(u: u16) -> bool {
    (0x0400..=0x04FF).contains(&u) || (0x0400..=0x04FF).contains(&canon(u))
}

/// `validUrlPrecedingChars`' class: anything but `[A-Za-z0-9@＠$#＃]` and the invalid.
fn preceding(u: u16) -> bool {
    !(ascii_letter_or_digit(u)
        || matches!(u, 0x40 | 0xFF20 | 0x24 | 0x23 | 0xFF03)
        || is_invalid(u))
}

/// `validDomainChars`: not punctuation, space, invalid or a directional mark.
fn domain_char(u: u16) -> bool {
    let punct = u < 0x80 && b"!'#%&()*+,\\-./:;<=>?@[]^_{|}~$".contains(&(u as u8));
    let space = matches!(u, 0x09..=0x0D | 0x20 | 0x85 | 0xA0 | 0x1680 | 0x180E | 0x2000..=0x200A
        | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000);
    let directional = matches!(u, 0x202A..=0x202E | 0x061C | 0x200E | 0x200F | 0x2066..=0x2069);
    !(punct || space || directional || is_invalid(u))
}

fn label_char(u: u16) -> bool {
    u == 0x2D || u == 0x5F || domain_char(u)
}

/// `validGeneralUrlPathChars`
fn path_char(u: u16) -> bool {
    ascii_letter_or_digit(u)
        || (u < 0x80 && b"!*';:=+,.$/%#[]-_~@|&".contains(&(u as u8)))
        || u == 0x2013
        || cyrillic(u)
        || latin_accent(u)
}

/// `validUrlPathEndingChars`' class
fn path_ending_char(u: u16) -> bool {
    ascii_letter_or_digit(u)
        || (u < 0x80 && b"+-=_#/".contains(&(u as u8)))
        || cyrillic(u)
        || latin_accent(u)
}

/// `validUrlQueryChars`
fn query_char(u: u16) -> bool {
    ascii_letter_or_digit(u) || (u < 0x80 && b"!?*'@();:&=+$/%#[]-_.,~|".contains(&(u as u8)))
}

/// `validUrlQueryEndingChars`
fn query_ending_char(u: u16) -> bool {
    ascii_letter_or_digit(u) || (u < 0x80 && b"-_&=#/".contains(&(u as u8)))
}

/// `validAsciiDomain`'s label characters
fn ascii_domain_char(u: u16) -> bool {
    u == 0x2D || ascii_letter_or_digit(u) || latin_accent(u)
}

/// Case-insensitive ASCII prefix test.
fn starts_with_ci(s: &[u16], at: usize, prefix: &str) -> bool {
    s.len() >= at + prefix.len()
        && s[at..]
            .iter()
            .zip(prefix.bytes())
            .all(|(&u, b)| canon(u) == u16::from(b.to_ascii_uppercase()))
}

/// A URL entity: where it starts and the length of its `url` text (both UTF-16), which
/// is how far `parseTweet` skips.
struct Url {
    start: usize,
    len: usize,
}

/// One match of `extractUrl`.
struct Found {
    /// The preceding character `$2`, when one was consumed.
    before: Option<u16>,
    start: usize,
    protocol: usize,
    domain: (usize, usize),
    path: bool,
    end: usize,
}

struct Scanner<'a> {
    s: &'a [u16],
    /// `validSubdomain*validDomainName(TLD)` from a label start after a dot: where the
    /// domain ends, taking as many subdomains as can be.
    domains: HashMap<usize, Option<usize>>,
    tlds: HashMap<usize, Option<usize>>,
    /// The label-character run last scanned: (from, end, last `_` in it).
    run: (usize, usize, Option<usize>),
}

impl Scanner<'_> {
    fn tld(&mut self, at: usize) -> Option<usize> {
        let s = self.s;
        *self
            .tlds
            .entry(at)
            .or_insert_with(|| tld_at(s, at, s.len()))
    }

    /// Where the label characters starting at `at` end, and whether they hold a `_`.
    fn label(&mut self, at: usize) -> (usize, bool) {
        let (from, end, underscore) = self.run;
        if !(from <= at && at < end) {
            let len = self.s[at..].iter().take_while(|&&u| label_char(u)).count();
            let underscore = self.s[at..at + len]
                .iter()
                .rposition(|&u| u == 0x5F)
                .map(|i| at + i);
            self.run = (at, at + len, underscore);
            return (at + len, underscore.is_some());
        }
        (end, underscore.is_some_and(|u| u >= at))
    }

    /// A label from `at` to `end` followed by a dot, starting and ending with a domain
    /// character (`validSubdomain`; `validDomainName` when it has no `_` too).
    fn dotted(&self, at: usize, end: usize) -> bool {
        end > at
            && domain_char(self.s[at])
            && domain_char(self.s[end - 1])
            && self.s.get(end) == Some(&0x2E)
    }

    /// `validDomain` at a label start right after a dot, memoised (iteratively, since a
    /// chain of labels may be long).
    fn domain_after_dot(&mut self, at: usize) -> Option<usize> {
        let mut chain = Vec::new();
        let mut here = at;
        while !self.domains.contains_key(&here) {
            if here >= self.s.len() {
                self.domains.insert(here, None);
                break;
            }
            let len = self.s[here..]
                .iter()
                .take_while(|&&u| label_char(u))
                .count();
            let end = here + len;
            if !self.dotted(here, end) {
                self.domains.insert(here, None);
                break;
            }
            let underscore = self.s[here..end].contains(&0x5F);
            chain.push((here, end, underscore));
            here = end + 1;
        }
        while let Some((label, end, underscore)) = chain.pop() {
            let deeper = self.domains[&(end + 1)];
            let found = deeper.or_else(|| if underscore { None } else { self.tld(end + 1) });
            self.domains.insert(label, found);
        }
        self.domains[&at]
    }

    /// `validDomain` at any position: the end of the domain.
    fn domain(&mut self, at: usize) -> Option<usize> {
        if at >= self.s.len() {
            return None;
        }
        let (end, underscore) = self.label(at);
        if !self.dotted(at, end) {
            return None;
        }
        self.domain_after_dot(end + 1)
            .or_else(|| if underscore { None } else { self.tld(end + 1) })
    }

    /// `(https?://)?validDomain(:port)?(/path)?(?query)?` at `at`.
    fn url(&mut self, at: usize, before: Option<u16>) -> Option<Found> {
        let s = self.s;
        let protocol = if starts_with_ci(s, at, "https://") {
            8
        } else if starts_with_ci(s, at, "http://") {
            7
        } else {
            0
        };
        let (protocol, domain) = match (protocol > 0).then(|| self.domain(at + protocol)).flatten()
        {
            Some(end) => (protocol, (at + protocol, end)),
            None => (0, (at, self.domain(at)?)),
        };
        let mut end = domain.1;
        if s.get(end) == Some(&0x3A) {
            let digits = s[end + 1..]
                .iter()
                .take_while(|u| (0x30..=0x39).contains(*u))
                .count();
            if digits > 0 {
                end += 1 + digits;
            }
        }
        let path = s.get(end) == Some(&0x2F);
        if path {
            end = path_end(s, end + 1);
        }
        if s.get(end) == Some(&0x3F) {
            let run = s[end + 1..].iter().take_while(|&&u| query_char(u)).count();
            if let Some(last) = s[end + 1..end + 1 + run]
                .iter()
                .rposition(|&u| query_ending_char(u))
            {
                end += 2 + last;
            }
        }
        Some(Found {
            before,
            start: at,
            protocol,
            domain,
            path,
            end,
        })
    }
}

/// `(validUrlBalancedParens)` at `at` (an opening parenthesis): its end.
fn balanced(s: &[u16], at: usize) -> Option<usize> {
    let run = |from: usize| from + s[from..].iter().take_while(|&&u| path_char(u)).count();
    let inner = run(at + 1);
    if inner > at + 1 && s.get(inner) == Some(&0x29) {
        return Some(inner + 1);
    }
    if s.get(inner) != Some(&0x28) {
        return None;
    }
    let nested = run(inner + 1);
    if nested == inner + 1 || s.get(nested) != Some(&0x29) {
        return None;
    }
    let tail = run(nested + 1);
    (s.get(tail) == Some(&0x29)).then_some(tail + 1)
}

/// `validUrlPath*` from `at`: the longest run of path characters and balanced
/// parentheses that ends with an ending character or balanced parentheses.
fn path_end(s: &[u16], at: usize) -> usize {
    let (mut here, mut end) = (at, at);
    while here < s.len() {
        if path_char(s[here]) {
            here += 1;
            if path_ending_char(s[here - 1]) {
                end = here;
            }
        } else if let Some(close) = (s[here] == 0x28).then(|| balanced(s, here)).flatten() {
            here = close;
            end = here;
        } else {
            break;
        }
    }
    end
}

/// `validAsciiDomain` matches in `s[from..to]` (the string searched ends at `to`).
fn ascii_domains(s: &[u16], from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut chains: HashMap<usize, Option<usize>> = HashMap::new();
    let label_end = |at: usize| {
        at + s[at..to]
            .iter()
            .take_while(|&&u| ascii_domain_char(u))
            .count()
    };
    let mut chain_from = |at: usize| -> Option<usize> {
        let mut chain = Vec::new();
        let mut here = at;
        while !chains.contains_key(&here) {
            let end = label_end(here);
            if end == here || end >= to || s[end] != 0x2E {
                chains.insert(here, None);
                break;
            }
            chain.push((here, end));
            here = end + 1;
        }
        while let Some((label, end)) = chain.pop() {
            let deeper = chains[&(end + 1)];
            chains.insert(label, deeper.or_else(|| tld_at(s, end + 1, to)));
        }
        chains[&at]
    };
    let mut found = Vec::new();
    let mut here = from;
    while here < to {
        if ascii_domain_char(s[here]) {
            let end = label_end(here);
            let matched = if end < to && s[end] == 0x2E {
                chain_from(end + 1).or_else(|| tld_at(s, end + 1, to))
            } else {
                None
            };
            match matched {
                Some(stop) => {
                    found.push((here, stop));
                    here = stop;
                }
                None => here = end,
            }
        } else {
            here += 1;
        }
    }
    found
}

/// `punycode.toASCII(label).length` (punycode.js 1.4.1), or `None` when it is surely
/// over 63 (or when punycode.js would overflow).
fn punycode_len(label: &[u16]) -> Option<usize> {
    let mut total = 0;
    for (i, part) in label
        .split(|&u| matches!(u, 0x2E | 0x3002 | 0xFF0E | 0xFF61))
        .enumerate()
    {
        total += usize::from(i > 0);
        if part.iter().all(|&u| (0x20..=0x7E).contains(&u)) {
            total += part.len();
        } else {
            total += 4 + encoded_len(part)?;
        }
    }
    Some(total)
}

/// Length of punycode's `encode` (RFC 3492) of UTF-16 `part`.
fn encoded_len(part: &[u16]) -> Option<usize> {
    let points: Vec<u32> = char::decode_utf16(part.iter().copied())
        .map(|r| r.map_or_else(|e| u32::from(e.unpaired_surrogate()), u32::from))
        .collect();
    let basic = points.iter().filter(|&&c| c < 0x80).count();
    let mut out = basic + usize::from(basic > 0);
    if out + (points.len() - basic) > 63 {
        return None;
    }
    const MAX: u64 = 0x7FFF_FFFF;
    let (mut n, mut delta, mut bias, mut handled) = (0x80u64, 0u64, 72u64, basic);
    while handled < points.len() {
        let m = u64::from(
            points
                .iter()
                .copied()
                .filter(|&c| u64::from(c) >= n)
                .min()?,
        );
        let h1 = handled as u64 + 1;
        if m - n > (MAX - delta) / h1 {
            return None;
        }
        delta += (m - n) * h1;
        n = m;
        for &c in &points {
            let c = u64::from(c);
            if c < n {
                delta += 1;
                if delta > MAX {
                    return None;
                }
            }
            if c == n {
                let mut q = delta;
                let mut k = 36;
                loop {
                    let t = if k <= bias {
                        1
                    } else if k >= bias + 26 {
                        26
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out += 1;
                    q = (q - t) / (36 - t);
                    k += 36;
                }
                out += 1;
                bias = adapt(delta, handled as u64 + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    Some(out)
}

fn adapt(delta: u64, points: u64, first: bool) -> u64 {
    let mut delta = if first { delta / 700 } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > 455 {
        delta /= 35;
        k += 36;
    }
    k + 36 * delta / (delta + 38)
}

/// `isValidUrl`: every label of the domain 1–63 characters once punycoded, an `xn--`
/// domain also ASCII, and protocol plus URL at most 4096.
fn valid_url(s: &[u16], found: &Found) -> bool {
    let (from, to) = found.domain;
    let domain = &s[from..to];
    if domain.starts_with(&[0x78, 0x6E, 0x2D, 0x2D]) && ascii_domains(s, from, to).is_empty() {
        return false;
    }
    let labels_ok = domain
        .split(|&u| u == 0x2E)
        .all(|label| punycode_len(label).is_some_and(|len| (1..=63).contains(&len)));
    let protocol = if found.protocol > 0 {
        found.protocol
    } else {
        8
    };
    labels_ok && protocol + (found.end - found.start) <= 4096
}

/// `extractUrlsWithIndices(text)` with URLs without protocol, as entities.
fn extract_urls(s: &[u16]) -> Vec<Url> {
    let mut urls = Vec::new();
    if !s.contains(&0x2E) {
        return urls;
    }
    let mut scanner = Scanner {
        s,
        domains: HashMap::new(),
        tlds: HashMap::new(),
        run: (0, 0, None),
    };
    // `exec` from `lastIndex` = `at`: the leftmost match, then on from its end.
    let mut at = 0;
    while at < s.len() {
        let mut found = None;
        if preceding(s[at]) {
            found = scanner.url(at + 1, Some(s[at]));
        }
        if found.is_none() && at == 0 {
            found = scanner.url(0, None);
        }
        match found {
            Some(found) => {
                take(s, &found, &mut urls);
                at = found.end;
            }
            None => at += 1,
        }
    }
    urls
}

/// The body of `extractUrlsWithIndices`' loop for one match.
fn take(s: &[u16], found: &Found, urls: &mut Vec<Url>) {
    if !valid_url(s, found) {
        return;
    }
    if found.protocol == 0 {
        if found
            .before
            .is_some_and(|b| matches!(b, 0x2D | 0x5F | 0x2E | 0x2F))
        {
            return;
        }
        let (from, to) = found.domain;
        let ascii = ascii_domains(s, from, to);
        let Some(&(last_from, last_to)) = ascii.last() else {
            return;
        };
        let first_new = urls.len();
        urls.extend(ascii.iter().map(|&(a, b)| Url {
            start: a,
            len: b - a,
        }));
        if found.path {
            let last = urls.last_mut().expect("pushed above");
            last.len = (found.end - found.start) - (to - from) + (last_to - last_from);
        }
        debug_assert!(urls.len() > first_new);
        return;
    }
    let mut len = found.end - found.start;
    let url = &s[found.start..found.end];
    let prefix = found.protocol;
    if starts_with_ci(url, prefix, "t.co/") {
        let slug = url[prefix + 5..]
            .iter()
            .take_while(|&&u| ascii_letter_or_digit(u))
            .count();
        if slug > 0 {
            if slug > 40 {
                return;
            }
            len = prefix + 5 + slug;
            if url.get(len) == Some(&0x3F) {
                let run = url[len + 1..]
                    .iter()
                    .take_while(|&&u| query_char(u))
                    .count();
                if let Some(last) = url[len + 1..len + 1 + run]
                    .iter()
                    .rposition(|&u| query_ending_char(u))
                {
                    len += 2 + last;
                }
            }
        }
    }
    urls.push(Url {
        start: found.start,
        len,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3(text: &str) -> usize {
        parse(text, &V3).weighted_length
    }

    #[test]
    fn urls_weigh_23() {
        assert_eq!(v3("Hi http://test.co"), 26);
        assert_eq!(v3("example.com"), 23);
        assert_eq!(v3("see example.com/path?q=1 now"), 4 + 23 + 4);
        assert_eq!(v3("twitter.com:8080"), 23 + 5);
        assert_eq!(v3("www.example.invalidtld"), 22);
        assert_eq!(v3("-example.com"), 12);
        assert_eq!(v3("http://t.co/abc/def"), 23 + 4);
    }

    #[test]
    fn weights() {
        assert_eq!(v3("abc"), 3);
        assert_eq!(v3("故人"), 4);
        assert_eq!(v3("😷"), 2);
        assert_eq!(parse("😷", &V2).weighted_length, 2);
        assert_eq!(parse("😷", &V1).weighted_length, 1);
        assert_eq!(v3("\u{2014}"), 1);
    }

    #[test]
    fn punycode_lengths() {
        assert_eq!(
            punycode_len(&"abc".encode_utf16().collect::<Vec<_>>()),
            Some(3)
        );
        // "bücher" → "xn--bcher-kva"
        assert_eq!(
            punycode_len(&"bücher".encode_utf16().collect::<Vec<_>>()),
            Some(13)
        );
        // "例え" → "xn--r8jz45g"
        assert_eq!(
            punycode_len(&"例え".encode_utf16().collect::<Vec<_>>()),
            Some(11)
        );
    }
}
