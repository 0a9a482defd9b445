//! Fetching from a URL the server did not choose (an agent's image URL, a webhook's media)
//! without being turned against our own network: http(s) only, the host name allowed by a
//! [`HostRule`], every resolved address vetted by [`AddressPolicy`], the connection pinned
//! to the vetted address (no second DNS lookup), redirects followed by hand and vetted hop
//! by hop (at most [`MAX_REDIRECTS`]), size and time capped while streaming.

use super::policy::{AddressPolicy, HostRule};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub const MAX_REDIRECTS: usize = 3;

/// Why a URL was not fetched, in words safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
    #[error("the image is over the {0} byte limit")]
    TooLarge(usize),
}

pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The answer's `Content-Type`, without parameters.
    pub content_type: Option<String>,
}

/// Fetches `url` under `policy`, at most `limit` bytes, within `deadline` overall.
pub async fn fetch(
    url: &str,
    policy: &AddressPolicy,
    limit: usize,
    deadline: Duration,
) -> Result<Fetched, FetchError> {
    tokio::time::timeout(deadline, fetch_inner(url, policy, limit))
        .await
        .map_err(|_| FetchError::Failed("the image took too long to fetch".into()))?
}

async fn fetch_inner(
    url: &str,
    policy: &AddressPolicy,
    limit: usize,
) -> Result<Fetched, FetchError> {
    let url = url::Url::parse(url).map_err(|_| FetchError::Refused("not a valid URL".into()))?;
    let failed = |why: String| FetchError::Failed(format!("could not fetch the image: {why}"));
    let mut res = get(&url, policy, &HostRule::any_host(), &|_| None, None)
        .await
        .map_err(|e| match e {
            GetError::Refused(why) => FetchError::Refused(why),
            GetError::Failed(why) => failed(why),
        })?;
    let status = res.status();
    if !status.is_success() {
        return Err(FetchError::Failed(format!(
            "the image's server answered {}",
            status.as_u16()
        )));
    }
    if res.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge(limit));
    }
    let content_type = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let mut bytes = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?
    {
        if bytes.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        bytes,
        content_type,
    })
}

/// Why [`get`] got no answer.
#[derive(Debug)]
pub enum GetError {
    /// The URL, a redirect or an address was refused: nothing was asked of it.
    Refused(String),
    /// Asking failed (the name did not resolve, unreachable, timed out, reset); in words
    /// without the URL.
    Failed(String),
}

/// `GET url` under `policy` and `rule`, following redirects by hand: every hop is checked
/// by the rule and vetted by the policy again, at most [`MAX_REDIRECTS`] of them.
/// `authorize(hop)` gives the `Authorization` header a hop needs (X's DM media), so a
/// redirect elsewhere is asked without it. `timeout`, when given, bounds each request,
/// body included. Returns the first answer that is not a redirect.
pub async fn get(
    url: &url::Url,
    policy: &AddressPolicy,
    rule: &HostRule,
    authorize: &(dyn Fn(&url::Url) -> Option<String> + Send + Sync),
    timeout: Option<Duration>,
) -> Result<reqwest::Response, GetError> {
    let mut current = url.clone();
    for _hop in 0..=MAX_REDIRECTS {
        let (client, target) =
            vetted_client_for(&current, policy, rule)
                .await
                .map_err(|e| match e {
                    FetchError::Refused(why) => GetError::Refused(why),
                    FetchError::Failed(why) => GetError::Failed(why),
                    FetchError::TooLarge(_) => GetError::Refused("refused".into()),
                })?;
        let mut request = client.get(target);
        if let Some(auth) = authorize(&current) {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        if let Some(t) = timeout {
            request = request.timeout(t);
        }
        let res = request
            .send()
            .await
            .map_err(|e| GetError::Failed(e.without_url().to_string()))?;
        if !res.status().is_redirection() {
            return Ok(res);
        }
        let location = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| GetError::Refused("a redirect without a location".into()))?;
        current = current
            .join(location)
            .map_err(|_| GetError::Refused("a redirect to an invalid URL".into()))?;
    }
    Err(GetError::Refused(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// Checks the URL and resolves its host; every address must pass `policy`. Returns a
/// client that connects only to the first vetted address, and the URL to ask it for.
///
/// The one client not shared through `AppState`: the pinned address is a setting of the
/// client (reqwest resolves per client, not per request), so each fetch (and each
/// redirect hop) gets its own.
pub(crate) async fn vetted_client(
    url: &url::Url,
    policy: &AddressPolicy,
) -> Result<(reqwest::Client, url::Url), FetchError> {
    vetted_client_for(url, policy, &HostRule::any_host()).await
}

/// [`vetted_client`] for a URL whose host name must also pass `rule`. A host the rule's
/// settings name may resolve to loopback or private addresses (never to the ranges
/// [`super::policy::Range::Never`] holds).
pub(crate) async fn vetted_client_for(
    url: &url::Url,
    policy: &AddressPolicy,
    rule: &HostRule,
) -> Result<(reqwest::Client, url::Url), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Refused("only http and https URLs".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::Refused(
            "URLs with credentials are refused".into(),
        ));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| FetchError::Refused("no port".into()))?;
    let host = url
        .host()
        .ok_or_else(|| FetchError::Refused("a URL without a host".into()))?;
    if let Some(why) = rule.refusal(url) {
        return Err(FetchError::Refused(why));
    }
    let named;
    let policy = if url
        .host_str()
        .is_some_and(|h| rule.names(&h.to_ascii_lowercase(), port))
    {
        named = AddressPolicy {
            allow_private: true,
            ..policy.clone()
        };
        &named
    } else {
        policy
    };
    let refused = || FetchError::Refused("that address is not public; refused".into());
    let builder = reqwest::Client::builder()
        .user_agent(concat!("SocialConnect/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20));
    let builder = match host {
        url::Host::Ipv4(ip) => {
            if !policy.allows(SocketAddr::new(IpAddr::V4(ip), port)) {
                return Err(refused());
            }
            builder
        }
        url::Host::Ipv6(ip) => {
            if !policy.allows(SocketAddr::new(IpAddr::V6(ip), port)) {
                return Err(refused());
            }
            builder
        }
        url::Host::Domain(name) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| FetchError::Failed(format!("{name} does not resolve")))?
                .collect();
            if addrs.is_empty() {
                return Err(FetchError::Failed(format!("{name} does not resolve")));
            }
            // Any refused address refuses the name: a host that answers with a mix is
            // not one to trust.
            if !addrs.iter().all(|a| policy.allows(*a)) {
                return Err(refused());
            }
            // Pinned: reqwest connects to this address and does not resolve the name again.
            builder.resolve(name, addrs[0])
        }
    };
    let client = builder
        .build()
        .map_err(|_| FetchError::Failed("could not prepare the fetch".into()))?;
    Ok((client, url.clone()))
}
