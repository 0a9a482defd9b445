//! X's content rules: the weighted post length and the media checks.

/// Post limit (twitter-text config v3, `maxWeightedTweetLength`).
pub const POST_LIMIT: usize = 280;
/// DM limit: "up to 10,000 characters" (X docs, POST direct_messages/events/new).
pub const DM_LIMIT: usize = 10_000;
/// Every URL counts as `transformedURLLength` = 23.
const URL_WEIGHT: usize = 23;

/// Weighted length per twitter-text config v3, **approximated**: code points in the
/// default ranges U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F and U+2032–U+2037 weigh 1,
/// every other code point 2, each `http://`/`https://` URL 23. Not done here: NFC
/// normalisation, URLs without a scheme, and emoji sequences counting as one emoji (a
/// ZWJ sequence is counted code point by code point).
pub fn weighted_length(text: &str) -> usize {
    let mut total = 0;
    for word in split_keep(text) {
        if word.starts_with("http://") || word.starts_with("https://") {
            total += URL_WEIGHT;
        } else {
            total += word.chars().map(char_weight).sum::<usize>();
        }
    }
    total
}

fn char_weight(c: char) -> usize {
    let cp = c as u32;
    let light = cp <= 0x10FF
        || (0x2000..=0x200D).contains(&cp)
        || (0x2010..=0x201F).contains(&cp)
        || (0x2032..=0x2037).contains(&cp);
    if light { 1 } else { 2 }
}

/// Splits into runs of whitespace and non-whitespace, keeping both.
fn split_keep(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|s| s != space) {
            out.push(&text[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The `@handle` mentions in a text: (start, end) in code points, and the handle.
pub fn mentions(text: &str) -> Vec<(usize, usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if chars[i] == '@' && boundary {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > i + 1 && j - i - 1 <= 15 {
                out.push((i, j, chars[i + 1..j].iter().collect()));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// What the bytes are, by their magic numbers.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.len() >= 8 && &bytes[4..8] == b"ftyp" {
        Some("video/mp4")
    } else {
        None
    }
}

/// Size limit for a media type (X media best practices: images 5 MB, GIFs 15 MB,
/// video 512 MB).
pub fn size_limit(media_type: &str) -> Option<u64> {
    match media_type {
        "image/jpeg" | "image/png" | "image/webp" => Some(5 * 1024 * 1024),
        "image/gif" => Some(15 * 1024 * 1024),
        "video/mp4" | "video/quicktime" => Some(512 * 1024 * 1024),
        _ => None,
    }
}

/// Whether `media_category` fits `media_type`.
pub fn category_fits(category: &str, media_type: &str) -> bool {
    match category {
        "tweet_image" | "dm_image" => {
            matches!(media_type, "image/jpeg" | "image/png" | "image/webp")
        }
        "tweet_gif" | "dm_gif" => media_type == "image/gif",
        "tweet_video" | "dm_video" | "amplify_video" => {
            matches!(media_type, "video/mp4" | "video/quicktime")
        }
        _ => false,
    }
}

/// The media key prefix X uses: 3 photo, 16 animated GIF, 7 video.
pub fn key_prefix(media_type: &str) -> (&'static str, &'static str) {
    match media_type {
        "image/gif" => ("16", "animated_gif"),
        t if t.starts_with("video/") => ("7", "video"),
        _ => ("3", "photo"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighs_like_twitter_text() {
        assert_eq!(weighted_length("hello"), 5);
        assert_eq!(weighted_length("日本"), 4);
        assert_eq!(
            weighted_length("see https://example.com/a/very/long/path ok"),
            4 + 23 + 3
        );
        assert_eq!(weighted_length("café “quoted”"), 13);
        assert_eq!(weighted_length(&"a".repeat(280)), 280);
        assert_eq!(weighted_length("😀"), 2);
    }

    #[test]
    fn finds_mentions() {
        let m = mentions("hi @Brand and email a@b, @x_y!");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], (3, 9, "Brand".into()));
        assert_eq!(m[1].2, "x_y");
    }

    #[test]
    fn sniffs_magic_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a...."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
        assert_eq!(sniff(b"%PDF-1.4"), None);
        assert!(category_fits("dm_gif", "image/gif"));
        assert!(!category_fits("tweet_image", "image/gif"));
    }
}
