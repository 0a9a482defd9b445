//! Emoji as twitter-text 3.1.0 finds them: with the regular expression of
//! `twemoji-parser` 11.0.2 (MIT, © Twitter), kept verbatim in `emoji-regex.txt`.
//!
//! That expression uses a small subset of JavaScript's syntax over UTF-16 code units —
//! literals, `\uXXXX`, classes, `(?:…)`, `(…)`, `(?!…)`, `?` and `|` — so a tiny
//! backtracking matcher runs it with JavaScript's semantics (first alternative that
//! succeeds, greedy `?`). It is compiled once, on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

const SOURCE: &str = include_str!("emoji-regex.txt");

enum Node {
    Unit(u16),
    Class(Vec<(u16, u16)>),
    Group(Vec<Vec<Item>>),
    NotAhead(Vec<Vec<Item>>),
}

struct Item {
    node: Node,
    optional: bool,
}

struct Regex {
    alternatives: Vec<Vec<Item>>,
    /// For each code unit an emoji can start with, the alternatives that can, in order.
    by_first: HashMap<u16, Vec<usize>>,
}

fn regex() -> &'static Regex {
    static REGEX: OnceLock<Regex> = OnceLock::new();
    REGEX.get_or_init(|| {
        let units: Vec<u16> = SOURCE.trim_end().encode_utf16().collect();
        let mut parser = Parser { s: &units, i: 0 };
        let alternatives = parser.alternation();
        assert_eq!(parser.i, units.len(), "emoji-regex.txt: unexpected ')'");
        let mut by_first: HashMap<u16, Vec<usize>> = HashMap::new();
        for (index, alternative) in alternatives.iter().enumerate() {
            let mut first = vec![0u64; 1024];
            let nullable = first_units(alternative, &mut first);
            assert!(!nullable, "emoji-regex.txt: an alternative matches nothing");
            for unit in 0..=u16::MAX {
                if first[unit as usize / 64] & (1 << (unit % 64)) != 0 {
                    by_first.entry(unit).or_default().push(index);
                }
            }
        }
        Regex {
            alternatives,
            by_first,
        }
    })
}

/// Adds the code units `items` can start with; true when `items` can match nothing.
fn first_units(items: &[Item], set: &mut [u64]) -> bool {
    for item in items {
        let nullable = match &item.node {
            Node::Unit(u) => {
                set[*u as usize / 64] |= 1 << (u % 64);
                false
            }
            Node::Class(ranges) => {
                for &(lo, hi) in ranges {
                    for u in lo..=hi {
                        set[u as usize / 64] |= 1 << (u % 64);
                    }
                }
                false
            }
            Node::Group(alternatives) => {
                let mut nullable = false;
                for alternative in alternatives {
                    nullable |= first_units(alternative, set);
                }
                nullable
            }
            Node::NotAhead(_) => true,
        };
        if !nullable && !item.optional {
            return false;
        }
    }
    true
}

struct Parser<'a> {
    s: &'a [u16],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u16> {
        self.s.get(self.i).copied()
    }

    fn alternation(&mut self) -> Vec<Vec<Item>> {
        let mut alternatives = vec![Vec::new()];
        while let Some(c) = self.peek() {
            match c {
                0x7C => {
                    self.i += 1;
                    alternatives.push(Vec::new());
                }
                0x29 => break,
                _ => {
                    let node = self.atom();
                    let optional = self.peek() == Some(0x3F);
                    if optional {
                        self.i += 1;
                    }
                    alternatives
                        .last_mut()
                        .expect("never empty")
                        .push(Item { node, optional });
                }
            }
        }
        alternatives
    }

    fn atom(&mut self) -> Node {
        let c = self.s[self.i];
        self.i += 1;
        match c {
            0x28 => {
                let mut look = false;
                if self.peek() == Some(0x3F) {
                    let kind = self.s[self.i + 1];
                    self.i += 2;
                    look = kind == 0x21;
                    assert!(kind == 0x3A || look, "emoji-regex.txt: unsupported group");
                }
                let inner = self.alternation();
                assert_eq!(self.peek(), Some(0x29), "emoji-regex.txt: unclosed group");
                self.i += 1;
                if look {
                    Node::NotAhead(inner)
                } else {
                    Node::Group(inner)
                }
            }
            0x5B => {
                assert_ne!(self.peek(), Some(0x5E), "emoji-regex.txt: negated class");
                let mut ranges = Vec::new();
                while self.peek() != Some(0x5D) {
                    let lo = self.unit();
                    let hi = if self.peek() == Some(0x2D) && self.s.get(self.i + 1) != Some(&0x5D) {
                        self.i += 1;
                        self.unit()
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                self.i += 1;
                Node::Class(ranges)
            }
            _ => {
                self.i -= 1;
                Node::Unit(self.unit())
            }
        }
    }

    fn unit(&mut self) -> u16 {
        let c = self.s[self.i];
        self.i += 1;
        if c != 0x5C {
            return c;
        }
        assert_eq!(self.s[self.i], 0x75, "emoji-regex.txt: only \\u escapes");
        let hex = String::from_utf16_lossy(&self.s[self.i + 1..self.i + 5]);
        self.i += 5;
        u16::from_str_radix(&hex, 16).expect("emoji-regex.txt: bad \\u escape")
    }
}

type Next<'k> = &'k mut dyn FnMut(usize) -> Option<usize>;

fn sequence(items: &[Item], s: &[u16], at: usize, next: Next) -> Option<usize> {
    let Some((item, rest)) = items.split_first() else {
        return next(at);
    };
    let mut then = |end: usize| sequence(rest, s, end, &mut *next);
    let matched = node(&item.node, s, at, &mut then);
    if matched.is_none() && item.optional {
        return then(at);
    }
    matched
}

fn node(node: &Node, s: &[u16], at: usize, next: Next) -> Option<usize> {
    match node {
        Node::Unit(u) => (s.get(at) == Some(u))
            .then_some(())
            .and_then(|()| next(at + 1)),
        Node::Class(ranges) => {
            let c = *s.get(at)?;
            ranges
                .iter()
                .any(|&(lo, hi)| lo <= c && c <= hi)
                .then_some(())
                .and_then(|()| next(at + 1))
        }
        Node::Group(alternatives) => alternatives
            .iter()
            .find_map(|alternative| sequence(alternative, s, at, &mut *next)),
        Node::NotAhead(alternatives) => {
            let seen = alternatives
                .iter()
                .any(|alternative| sequence(alternative, s, at, &mut Some).is_some());
            if seen { None } else { next(at) }
        }
    }
}

/// Every emoji of `s` (UTF-16) as `(start, length)` in code units, left to right and
/// never overlapping, as twemoji-parser's global `exec` loop finds them.
pub fn find_all(s: &[u16]) -> Vec<(usize, usize)> {
    let regex = regex();
    let mut found = Vec::new();
    let mut at = 0;
    while at < s.len() {
        let end = regex.by_first.get(&s[at]).and_then(|candidates| {
            candidates
                .iter()
                .find_map(|&i| sequence(&regex.alternatives[i], s, at, &mut Some))
        });
        match end {
            Some(end) => {
                found.push((at, end - at));
                at = end;
            }
            None => at += 1,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emoji(text: &str) -> Vec<(usize, usize)> {
        find_all(&text.encode_utf16().collect::<Vec<_>>())
    }

    #[test]
    fn finds_sequences_as_one() {
        assert_eq!(emoji("a😷b"), [(1, 2)]);
        // family: four people joined by three ZWJ
        assert_eq!(emoji("👨\u{200d}👩\u{200d}👧\u{200d}👦"), [(0, 11)]);
        assert_eq!(emoji("🙋🏽"), [(0, 4)]);
        assert_eq!(emoji("1\u{20e3}"), [(0, 2)]);
        assert_eq!(
            emoji("🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}"),
            [(0, 14)]
        );
        assert_eq!(emoji("plain text 123"), []);
    }
}
