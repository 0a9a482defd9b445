//! Events to an external bot: a signed JSON POST to the admin's URL, through the same
//! address vetting as every URL a user gives the server (`uploads::policy`).
//!
//! Each event carries `X-SocialConnect-Timestamp: <unix seconds>` and
//! `X-SocialConnect-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`;
//! a bot checks the signature in constant time and refuses old timestamps. Anything but
//! a 2xx within the bot's timeout is a failure, and the conversation goes to people.

use crate::uploads::fetch::{GetError, SafeClient};
use crate::uploads::policy::AddressPolicy;
use hmac::{Hmac, Mac};
use std::time::Duration;

pub const TIMESTAMP_HEADER: &str = "x-socialconnect-timestamp";
pub const SIGNATURE_HEADER: &str = "x-socialconnect-signature";

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a URL an admin gives for a bot: http(s), no credentials, and — when it names an
/// address rather than a host — an address the policy allows. Host names are vetted on
/// every delivery, as they may resolve differently later.
pub fn check_url(url: &str, policy: &AddressPolicy) -> Result<(), String> {
    let parsed = url::Url::parse(url.trim()).map_err(|_| "the bot's URL is not a valid URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the bot's URL must be http or https".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the bot's URL must not carry credentials".into());
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err("the bot's URL has no host".into()),
    };
    match ip {
        Some(ip) if !policy.allows(std::net::SocketAddr::new(ip, port)) => {
            Err("the bot's URL is not a public address; refused".into())
        }
        _ => Ok(()),
    }
}

/// POSTs `body` to the bot through `client` (URLs people give), signed with `secret`,
/// within `timeout`. `Err` says why, in words for the log and the hand-over reason.
pub async fn deliver(
    client: &SafeClient,
    url: &str,
    secret: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let parsed =
        url::Url::parse(url.trim()).map_err(|_| "the bot's URL is not valid".to_owned())?;
    let timestamp = crate::auth::now_secs();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    let signed = [
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, signature(secret, timestamp, &body)),
    ];
    for (name, value) in signed {
        let value = reqwest::header::HeaderValue::from_str(&value).expect("ASCII");
        headers.insert(name, value);
    }
    let attempt = async {
        let res = client
            .post(&parsed, headers, body)
            .await
            .map_err(|e| match e {
                GetError::Refused(why) => why,
                GetError::Failed(why) => format!("the bot could not be reached: {why}"),
            })?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("the bot answered {}", res.status().as_u16()))
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the bot did not answer within {} ms",
                timeout.as_millis()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature("s3cret", 1_700_000_000, b"{\"x\":1}");
        assert!(a.starts_with("sha256="));
        assert_eq!(a.len(), "sha256=".len() + 64);
        assert_ne!(a, signature("s3cret", 1_700_000_001, b"{\"x\":1}"));
        assert_ne!(a, signature("s3cret", 1_700_000_000, b"{\"x\":2}"));
        assert_ne!(a, signature("other", 1_700_000_000, b"{\"x\":1}"));
    }

    #[test]
    fn bot_urls_follow_the_address_policy() {
        let strict = AddressPolicy::strict();
        assert!(check_url("https://bot.example/events", &strict).is_ok());
        assert!(check_url("http://127.0.0.1:9000/events", &strict).is_err());
        assert!(check_url("http://169.254.169.254/latest", &strict).is_err());
        assert!(check_url("http://[::1]/x", &strict).is_err());
        assert!(check_url("ftp://bot.example/", &strict).is_err());
        assert!(check_url("https://u:p@bot.example/", &strict).is_err());
        let tests = AddressPolicy {
            allow_private: true,
            also_allow: vec![],
        };
        assert!(check_url("http://127.0.0.1:9000/events", &tests).is_ok());
        assert!(check_url("http://169.254.169.254/latest", &tests).is_err());
    }

    #[tokio::test]
    async fn a_private_address_is_refused_before_any_connection() {
        let strict = SafeClient::new(AddressPolicy::strict(), Default::default());
        let err = deliver(
            &strict,
            "http://127.0.0.1:9/events",
            "s",
            b"{}".to_vec(),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(err.contains("not public"), "{err}");
    }
}
