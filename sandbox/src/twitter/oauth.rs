//! OAuth 1.0a request verification (RFC 5849 §3.4; X's "Creating a signature" guide:
//! method, base URL, and the sorted, percent-encoded parameters from the query, the
//! `application/x-www-form-urlencoded` body and the `Authorization: OAuth` header, signed
//! with HMAC-SHA1 keyed by `consumer_secret&token_secret`).

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha1::Sha1;

/// RFC 3986 unreserved characters stay as they are; everything else is `%XX` (upper case).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

pub fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Parses `a=b&c=d` (form or query), `+` meaning space as in HTML forms.
pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

/// The parameters of an `Authorization: OAuth k="v", ...` header, decoded.
pub fn parse_header(value: &str) -> Option<Vec<(String, String)>> {
    let rest = value.trim().strip_prefix("OAuth ")?;
    let mut out = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=')?;
        let v = v.trim().trim_matches('"');
        if k.trim() == "realm" {
            continue;
        }
        out.push((decode(k.trim()), decode(v)));
    }
    Some(out)
}

/// The signature base string: `METHOD&enc(base_url)&enc(sorted params)`.
pub fn base_string(method: &str, base_url: &str, params: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    enc.sort();
    let joined = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(base_url),
        encode(&joined)
    )
}

pub fn sign(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of X's "Creating a signature" page.
    #[test]
    fn matches_the_documented_example() {
        let params: Vec<(String, String)> = [
            (
                "status",
                "Hello Ladies + Gentlemen, a signed OAuth request!",
            ),
            ("include_entities", "true"),
            ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
            ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1318622958"),
            (
                "oauth_token",
                "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            ),
            ("oauth_version", "1.0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let base = base_string(
            "post",
            "https://api.twitter.com/1.1/statuses/update.json",
            &params,
        );
        assert!(base.starts_with("POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key"));
        let sig = sign(
            &base,
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        );
        assert_eq!(sig, "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
    }

    #[test]
    fn parses_the_header() {
        let p = parse_header(r#"OAuth oauth_consumer_key="a%20b", oauth_nonce="n""#).unwrap();
        assert_eq!(p[0], ("oauth_consumer_key".into(), "a b".into()));
        assert_eq!(p[1].1, "n");
    }
}
