//! NFC, as twitter-text's `text.normalize()`.
//!
//! Natively (the server, `socialconnect count`, the tests) the `unicode-normalization`
//! crate does it. In the browser the widget asks the browser's own
//! `String.prototype.normalize` — what twitter-text's JavaScript itself calls — instead
//! of shipping the crate's tables, which cost about 60 KB gzipped in the widget (measured:
//! 150.5 → 212.5 KB for the wasm). Both implement the same Unicode algorithm; they can
//! only differ on characters assigned in a Unicode version one of them does not know yet.

use std::borrow::Cow;

/// The NFC form of `text`, borrowed when `text` is surely NFC already.
pub fn nfc(text: &str) -> Cow<'_, str> {
    // Below U+0300 nothing decomposes, composes or reorders (NFC_QC is Yes).
    if text.chars().all(|c| (c as u32) < 0x300) {
        return Cow::Borrowed(text);
    }
    imp::nfc(text)
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::borrow::Cow;
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

    /// Splits after each space or line feed — NFC never composes or reorders across them —
    /// and normalises only the pieces the quick check does not pass.
    pub fn nfc(text: &str) -> Cow<'_, str> {
        if is_nfc_quick(text.chars()) == IsNormalized::Yes {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        for piece in text.split_inclusive([' ', '\n']) {
            if is_nfc_quick(piece.chars()) == IsNormalized::Yes {
                out.push_str(piece);
            } else {
                out.extend(piece.nfc());
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use std::borrow::Cow;

    pub fn nfc(text: &str) -> Cow<'_, str> {
        Cow::Owned(js_sys::JsString::from(text).normalize("NFC").into())
    }
}

#[cfg(test)]
mod tests {
    use super::nfc;

    #[test]
    fn composes_and_keeps_what_is_nfc() {
        assert_eq!(nfc("e\u{301} cafe\u{301}\nx"), "é café\nx");
        assert!(matches!(nfc("plain ÿ"), std::borrow::Cow::Borrowed(_)));
        // U+FB2C (shin with dagesh and shin dot) is excluded from composition: 3 code points.
        assert_eq!(nfc("\u{FB2C}").chars().count(), 3);
        assert_eq!(nfc("\u{1100}\u{1161}"), "\u{AC00}");
    }
}
