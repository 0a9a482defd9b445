//! Fetching from a URL the server did not choose (an agent's image URL, a bot's URL, a
//! webhook's media) without being turned against our own network: http(s) only, the host
//! name allowed by a [`HostRule`], every address vetted by [`AddressPolicy`], redirects
//! followed by hand and checked hop by hop (at most [`MAX_REDIRECTS`]), size and time
//! capped while streaming.
//!
//! One [`SafeClient`] per purpose lives in `AppState` ([`SafeClients`]): its policy is a
//! setting of the client, enforced by the client's own name resolver, so every connection
//! it opens goes to an address vetted by the lookup that found it (no second lookup to
//! rebind), and connections to a host are kept and reused like any client's.

use super::policy::{AddressPolicy, HostList, HostRule};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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

/// Why [`SafeClient::get`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The URL, a redirect or an address was refused: nothing was asked of it.
    #[error("{0}")]
    Refused(String),
    /// Asking failed (the name did not resolve, unreachable, timed out, reset); in words
    /// without the URL.
    #[error("{0}")]
    Failed(String),
}

impl From<GetError> for FetchError {
    fn from(e: GetError) -> Self {
        match e {
            GetError::Refused(why) => FetchError::Refused(why),
            GetError::Failed(why) => FetchError::Failed(why),
        }
    }
}

/// The clients for URLs the server did not choose, one per purpose.
#[derive(Clone)]
pub struct SafeClients {
    /// URLs people give: an agent's image URL, an admin's bot, a single sign-on provider.
    /// Public addresses only (private ones too with `--allow-private-media-urls`, for
    /// tests; and the `--media-http-hosts`, the sandbox's).
    pub given: SafeClient,
    /// The networks' media: public addresses only, but the `--media-http-hosts` may be
    /// loopback or private (the sandbox on this machine).
    pub media: SafeClient,
}

impl SafeClients {
    pub fn new(settings: &crate::config::ServeArgs) -> Self {
        SafeClients {
            // The sandbox's hosts (`--media-http-hosts`) may be on this machine: its
            // identity provider is one an admin gives.
            given: SafeClient::new(
                AddressPolicy {
                    allow_private: settings.allow_private_media_urls,
                    also_allow: Vec::new(),
                },
                settings.media_http_hosts.clone(),
            ),
            media: SafeClient::new(AddressPolicy::strict(), settings.media_http_hosts.clone()),
        }
    }
}

/// A client that connects only to addresses its policy allows.
#[derive(Clone)]
pub struct SafeClient {
    client: reqwest::Client,
    policy: AddressPolicy,
    /// Hosts whose addresses may be loopback or private (never the ranges
    /// [`super::policy::Range::Never`] holds). The resolver sees names, not ports: a
    /// listed name is private-allowed on any port its [`HostRule`] lets through.
    named: HostList,
}

impl SafeClient {
    pub fn new(policy: AddressPolicy, named: HostList) -> Self {
        let resolver = Vetting {
            policy: policy.clone(),
            named: named.0.iter().map(|n| n.host.clone()).collect(),
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("SocialConnect/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a client with a resolver and timeouts builds");
        SafeClient {
            client,
            policy,
            named,
        }
    }

    /// Fetches `url` (any host), at most `limit` bytes, within `deadline` overall.
    pub async fn fetch(
        &self,
        url: &str,
        limit: usize,
        deadline: Duration,
    ) -> Result<Fetched, FetchError> {
        tokio::time::timeout(deadline, self.fetch_inner(url, limit))
            .await
            .map_err(|_| FetchError::Failed("the image took too long to fetch".into()))?
    }

    async fn fetch_inner(&self, url: &str, limit: usize) -> Result<Fetched, FetchError> {
        let url =
            url::Url::parse(url).map_err(|_| FetchError::Refused("not a valid URL".into()))?;
        let failed = |why: String| FetchError::Failed(format!("could not fetch the image: {why}"));
        let any_host = HostRule::any_host();
        let mut res = self
            .get(&url, &any_host, &|_| None, None)
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
            .map(super::media_type);
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

    /// `GET url` under `rule`, following redirects by hand: every hop is checked by the
    /// rule and its addresses vetted again, at most [`MAX_REDIRECTS`] of them.
    /// `authorize(hop)` gives the `Authorization` header a hop needs (X's DM media), so a
    /// redirect elsewhere is asked without it. `timeout`, when given, bounds each request,
    /// body included. Returns the first answer that is not a redirect.
    pub async fn get(
        &self,
        url: &url::Url,
        rule: &HostRule,
        authorize: &(dyn Fn(&url::Url) -> Option<String> + Send + Sync),
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, GetError> {
        let mut current = url.clone();
        for _hop in 0..=MAX_REDIRECTS {
            let mut request = self.request(reqwest::Method::GET, &current, rule)?;
            if let Some(auth) = authorize(&current) {
                request = request.header(reqwest::header::AUTHORIZATION, auth);
            }
            if let Some(t) = timeout {
                request = request.timeout(t);
            }
            let res = send(request).await?;
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

    /// `POST url` (any host) with `headers` and `body`; a redirect is the answer, not
    /// followed.
    pub async fn post(
        &self,
        url: &url::Url,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, GetError> {
        let request = self.request(reqwest::Method::POST, url, &HostRule::any_host())?;
        send(request.headers(headers).body(body)).await
    }

    /// Sends an `http` request as it is (any host, no redirect followed), the answer's body
    /// capped at 1 MB: the transport of OpenID Connect calls (`openidconnect` takes any
    /// function from request to answer).
    pub async fn http(
        &self,
        req: axum::http::Request<Vec<u8>>,
    ) -> Result<axum::http::Response<Vec<u8>>, GetError> {
        const CAP: usize = 1 << 20;
        let url = url::Url::parse(&req.uri().to_string())
            .map_err(|_| GetError::Refused("not a valid URL".into()))?;
        let (parts, body) = req.into_parts();
        let request = self
            .request(parts.method, &url, &HostRule::any_host())?
            .headers(parts.headers)
            .body(body);
        let mut res = send(request).await?;
        let mut answer = axum::http::Response::builder().status(res.status());
        for (name, value) in res.headers() {
            answer = answer.header(name, value);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| GetError::Failed(e.without_url().to_string()))?
        {
            if bytes.len() + chunk.len() > CAP {
                return Err(GetError::Refused("the answer is over 1 MB".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        answer
            .body(bytes)
            .map_err(|e| GetError::Failed(e.to_string()))
    }

    /// Checks the URL before anything is asked: http(s), no credentials, a host the rule
    /// allows, and an address the policy allows where the URL names one (names are vetted
    /// by the resolver when a connection is opened).
    fn request(
        &self,
        method: reqwest::Method,
        url: &url::Url,
        rule: &HostRule,
    ) -> Result<reqwest::RequestBuilder, GetError> {
        let refused = |why: &str| GetError::Refused(why.to_owned());
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refused("only http and https URLs"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("URLs with credentials are refused"));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| refused("no port"))?;
        let host = url.host().ok_or_else(|| refused("a URL without a host"))?;
        if let Some(why) = rule.refusal(url) {
            return Err(GetError::Refused(why));
        }
        let ip = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = ip {
            let named = url
                .host_str()
                .is_some_and(|h| self.named.names(&h.to_ascii_lowercase(), port));
            let addr = SocketAddr::new(ip, port);
            if !(self.policy.allows(addr) || named && AddressPolicy::private().allows(addr)) {
                return Err(refused(NOT_PUBLIC));
            }
        }
        Ok(self.client.request(method, url.clone()))
    }
}

const NOT_PUBLIC: &str = "that address is not public; refused";

async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, GetError> {
    request.send().await.map_err(|e| {
        // The resolver's refusal, wrapped by the connector: nothing was asked.
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(refusal) = s.downcast_ref::<Refusal>() {
                return GetError::Refused(refusal.to_string());
            }
            source = s.source();
        }
        GetError::Failed(e.without_url().to_string())
    })
}

/// The resolver's answer when a name resolves to an address the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error("{NOT_PUBLIC}")]
struct Refusal;

/// Resolves names for a [`SafeClient`]: every address a name resolves to must pass the
/// policy (a name the settings list may resolve to private addresses), or the name is
/// refused and no connection is opened. The connection then goes to an address this
/// lookup vetted.
struct Vetting {
    policy: AddressPolicy,
    /// Lower-case host names whose addresses may be private.
    named: Vec<String>,
}

impl reqwest::dns::Resolve for Vetting {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let policy = if self.named.contains(&host) {
            AddressPolicy::private()
        } else {
            self.policy.clone()
        };
        Box::pin(async move {
            let unresolved = || -> Box<dyn std::error::Error + Send + Sync> {
                format!("{host} does not resolve").into()
            };
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| unresolved())?
                .collect();
            if addrs.is_empty() {
                return Err(unresolved());
            }
            // Any refused address refuses the name: a host that answers with a mix is not
            // one to trust.
            if !addrs.iter().all(|a| policy.allows(*a)) {
                return Err(Box::new(Refusal) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A loopback server answering every path with a small image; it records each
    /// request's peer address (so one address per connection).
    async fn image_server() -> (u16, Arc<Mutex<Vec<SocketAddr>>>) {
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = peers.clone();
        let app = axum::Router::new().fallback(
            move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(peer);
                    ([("content-type", "image/png")], vec![7u8; 100])
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (port, peers)
    }

    fn allowing_private() -> SafeClient {
        SafeClient::new(AddressPolicy::private(), HostList::default())
    }

    #[tokio::test]
    async fn fetches_share_the_client_and_its_connections() {
        let (port, peers) = image_server().await;
        let client = allowing_private();
        for path in ["a.png", "b.png", "c.png"] {
            let url = format!("http://localhost:{port}/{path}");
            let fetched = client.fetch(&url, 1000, Duration::from_secs(10)).await;
            assert_eq!(fetched.unwrap().bytes.len(), 100);
        }
        let peers = peers.lock().unwrap();
        assert_eq!(peers.len(), 3);
        assert!(
            peers.iter().all(|p| *p == peers[0]),
            "three fetches, one kept-alive connection: {peers:?}"
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_refused_before_connecting() {
        let (port, peers) = image_server().await;
        let strict = SafeClient::new(AddressPolicy::strict(), HostList::default());
        let url = format!("http://localhost:{port}/a.png");
        let refused = strict.fetch(&url, 1000, Duration::from_secs(10)).await;
        assert_eq!(
            refused.err(),
            Some(FetchError::Refused(NOT_PUBLIC.to_owned()))
        );
        // A name the settings list may be private, on the port the rule lets through.
        let named: HostList = format!("localhost:{port}").parse().unwrap();
        let media = SafeClient::new(AddressPolicy::strict(), named.clone());
        let rule = HostRule {
            https_hosts: Some(vec!["pbs.twimg.com"]),
            named,
        };
        let url = url::Url::parse(&url).unwrap();
        let res = media.get(&url, &rule, &|_| None, None).await.unwrap();
        assert!(res.status().is_success());
        let other = url::Url::parse("http://localhost:1/a.png").unwrap();
        let err = media.get(&other, &rule, &|_| None, None).await.unwrap_err();
        assert!(matches!(err, GetError::Refused(ref why) if why.contains("over http")));
        assert_eq!(
            peers.lock().unwrap().len(),
            1,
            "only the named host was asked"
        );
    }

    #[tokio::test]
    async fn a_post_follows_no_redirect_and_asks_no_private_address() {
        let strict = SafeClient::new(AddressPolicy::strict(), HostList::default());
        for url in [
            "http://127.0.0.1:9/events",
            "http://[::1]:9/",
            "http://localhost:9/",
        ] {
            let url = url::Url::parse(url).unwrap();
            let err = strict
                .post(&url, Default::default(), Vec::new())
                .await
                .unwrap_err();
            assert!(
                matches!(err, GetError::Refused(ref why) if why == NOT_PUBLIC),
                "{url}"
            );
        }
    }
}
