//! Where the server may fetch a URL it did not choose from: public unicast addresses only
//! ([`AddressPolicy`]), and, for the networks' media, only their media hosts ([`HostRule`]).
//!
//! A URL given by a user or a webhook must never make the server reach its own machine,
//! its private network or a cloud metadata service (SSRF). Every address a host name
//! resolves to is vetted, and the connection then goes to the vetted address, not to a
//! second lookup.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// What the URL fetcher may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Tests only (`--allow-private-media-urls`): loopback and private ranges too.
    pub allow_private: bool,
    /// Exact addresses allowed whatever their range, for URLs that name the address;
    /// only code sets these (tests).
    pub also_allow: Vec<SocketAddr>,
}

impl AddressPolicy {
    pub fn strict() -> Self {
        AddressPolicy::default()
    }

    /// Public, loopback and private addresses; never the ranges [`Range::Never`] holds.
    pub fn private() -> Self {
        AddressPolicy {
            allow_private: true,
            also_allow: Vec::new(),
        }
    }

    pub fn allows(&self, addr: SocketAddr) -> bool {
        if self.also_allow.contains(&addr) {
            return true;
        }
        match classify(addr.ip()) {
            Range::Public => true,
            Range::Private => self.allow_private,
            Range::Never => false,
        }
    }
}

/// Which host names a fetch may ask, before any address is looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRule {
    /// `None`: any http(s) host (an agent's image URL, a bot's URL). `Some`: https only,
    /// to these names — exact, or `*.suffix` for every name under `suffix`.
    pub https_hosts: Option<Vec<&'static str>>,
    /// `host:port`s the settings name (`--media-http-hosts`): asked over http or https, and
    /// their addresses may be loopback or private (the sandbox on this machine). The
    /// metadata and other never-allowed ranges stay refused.
    pub named: HostList,
}

impl HostRule {
    /// Any host, as far as names go (the addresses are still vetted).
    pub fn any_host() -> Self {
        HostRule::default()
    }

    /// Whether `host:port` is one the settings name.
    pub fn names(&self, host: &str, port: u16) -> bool {
        self.named.names(host, port)
    }

    /// Why `url` may not be asked at all, or `None` when its scheme and host are allowed.
    pub fn refusal(&self, url: &url::Url) -> Option<String> {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Some("a URL without a host or port".into());
        };
        let host = host.to_ascii_lowercase();
        if self.names(&host, port) {
            return None;
        }
        let allowed = self.https_hosts.as_ref()?;
        if url.scheme() != "https" {
            return Some(format!(
                "{host} was asked over {}; media is fetched over https only",
                url.scheme()
            ));
        }
        let listed = allowed
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => host == *pattern,
            });
        (!listed).then(|| format!("{host} is not one of the network's media hosts"))
    }
}

/// A `host:port` named in the settings (a host name or an IP address; IPv6 in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Lower case, as `url::Url::host_str` gives it.
    pub host: String,
    pub port: u16,
}

impl FromStr for HostPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("{s:?} is not HOST:PORT");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        // Parsed as a URL would be, so it compares equal to what a URL's host gives.
        let parsed = url::Url::parse(&format!("http://{host}:{port}/")).map_err(|_| bad())?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(bad)?;
        if parsed.port_or_known_default() != Some(port) {
            return Err(bad());
        }
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// `host:port`s separated by spaces or commas (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostList(pub Vec<HostPort>);

impl HostList {
    /// Whether `host:port` (lower case, as `url::Url::host_str` gives it) is listed.
    pub fn names(&self, host: &str, port: u16) -> bool {
        self.0.iter().any(|n| n.port == port && n.host == host)
    }
}

impl FromStr for HostList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split([' ', ',', '\t', '\n'])
            .filter(|p| !p.trim().is_empty())
            .map(HostPort::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(HostList)
    }
}

impl std::fmt::Display for HostList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Public,
    /// Loopback, RFC 1918, unique-local: allowed only by the test setting.
    Private,
    /// Unspecified, link-local (metadata), CGNAT, multicast, reserved, documentation,
    /// and IPv6 forms that embed an IPv4 address: never.
    Never,
}

pub fn classify(ip: IpAddr) -> Range {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Range {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() || ip.is_private() {
        return Range::Private;
    }
    let never = a == 0 // "this network", 0.0.0.0 included
        || ip.is_link_local() // 169.254.0.0/16, the metadata address 169.254.169.254
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    if never { Range::Never } else { Range::Public }
}

fn classify_v6(ip: Ipv6Addr) -> Range {
    let s = ip.segments();
    if ip.is_loopback() {
        return Range::Private;
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        // Unique local fc00::/7: the IPv6 private range.
        return Range::Private;
    }
    let never = ip.is_unspecified()
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
        || (s[0] & 0xff00) == 0xff00 // multicast ff00::/8
        // IPv4-mapped ::ffff:0:0/96 and IPv4-compatible ::/96: an IPv4 address in disguise.
        || (s[0..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0))
        || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 64:ff9b::/96 (and /48 local use)
        || s[0] == 0x2002 // 6to4: embeds an IPv4 address
        || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x0100 && s[1..4] == [0; 3]); // discard-only 100::/64
    if never { Range::Never } else { Range::Public }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_table() {
        let table = [
            ("8.8.8.8", Range::Public),
            ("93.184.216.34", Range::Public),
            ("172.32.0.1", Range::Public),
            ("100.128.0.1", Range::Public),
            ("127.0.0.1", Range::Private),
            ("127.255.255.254", Range::Private),
            ("10.0.0.1", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("192.168.1.1", Range::Private),
            ("0.0.0.0", Range::Never),
            ("0.1.2.3", Range::Never),
            ("169.254.169.254", Range::Never),
            ("169.254.0.1", Range::Never),
            ("100.64.0.1", Range::Never),
            ("100.127.255.255", Range::Never),
            ("224.0.0.1", Range::Never),
            ("239.255.255.250", Range::Never),
            ("240.0.0.1", Range::Never),
            ("255.255.255.255", Range::Never),
            ("192.0.2.1", Range::Never),
            ("198.18.0.1", Range::Never),
        ];
        for (ip, want) in table {
            assert_eq!(classify(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_table() {
        let table = [
            ("2606:4700:4700::1111", Range::Public),
            ("2a00:1450:4001:80b::200e", Range::Public),
            ("::1", Range::Private),
            ("fc00::1", Range::Private),
            ("fd12:3456:789a::1", Range::Private),
            ("::", Range::Never),
            ("fe80::1", Range::Never),
            ("febf:ffff::1", Range::Never),
            ("fec0::1", Range::Never),
            ("ff02::1", Range::Never),
            ("::ffff:127.0.0.1", Range::Never),
            ("::ffff:169.254.169.254", Range::Never),
            ("::ffff:8.8.8.8", Range::Never),
            ("::127.0.0.1", Range::Never),
            ("64:ff9b::a9fe:a9fe", Range::Never),
            ("2002:a9fe:a9fe::1", Range::Never),
            ("2001::1", Range::Never),
            ("2001:db8::1", Range::Never),
        ];
        for (ip, want) in table {
            assert_eq!(classify(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn media_hosts_are_https_and_listed_unless_the_settings_name_them() {
        let rule = HostRule {
            https_hosts: Some(vec!["*.fbcdn.net", "pbs.twimg.com"]),
            named: "127.0.0.1:8090, localhost:9000".parse().unwrap(),
        };
        let refusal = |u: &str| rule.refusal(&url::Url::parse(u).unwrap());
        for ok in [
            "https://scontent-ams2-1.xx.fbcdn.net/v/t1/a.jpg?oh=1",
            "https://pbs.twimg.com/media/a.jpg",
            "https://PBS.twimg.com/media/a.jpg",
            "http://127.0.0.1:8090/facebook/media/1",
            "http://localhost:9000/x",
        ] {
            assert_eq!(refusal(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("http://scontent.xx.fbcdn.net/a.jpg", "https only"),
            ("https://fbcdn.net/a.jpg", "not one of"),
            ("https://evilfbcdn.net/a.jpg", "not one of"),
            ("https://fbcdn.net.evil.example/a.jpg", "not one of"),
            ("https://pbs.twimg.com.evil.example/", "not one of"),
            ("http://127.0.0.1:8091/x", "https only"),
            ("https://127.0.0.1/x", "not one of"),
            ("https://10.0.0.1/x", "not one of"),
        ] {
            let got = refusal(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
        assert_eq!(
            HostRule::any_host().refusal(&url::Url::parse("http://10.0.0.1/").unwrap()),
            None,
            "names are not checked for agents' URLs; addresses are"
        );
    }

    #[test]
    fn host_lists_take_spaces_or_commas() {
        let list: HostList = "127.0.0.1:8090 sandbox.test:80,[::1]:9000".parse().unwrap();
        assert_eq!(
            list.to_string(),
            "127.0.0.1:8090,sandbox.test:80,[::1]:9000"
        );
        assert_eq!("".parse::<HostList>().unwrap(), HostList::default());
        for bad in ["127.0.0.1", "host:port", "a b:1", "http://x:1", ":80"] {
            assert!(bad.parse::<HostList>().is_err(), "{bad}");
        }
    }

    #[test]
    fn strict_refuses_private_and_the_test_setting_allows_only_that() {
        let strict = AddressPolicy::strict();
        let lo: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let meta: SocketAddr = "169.254.169.254:80".parse().unwrap();
        let public: SocketAddr = "8.8.8.8:443".parse().unwrap();
        assert!(!strict.allows(lo));
        assert!(!strict.allows(meta));
        assert!(strict.allows(public));
        let tests = AddressPolicy {
            allow_private: true,
            also_allow: vec![],
        };
        assert!(tests.allows(lo));
        assert!(!tests.allows(meta), "metadata stays refused");
        let exact = AddressPolicy {
            allow_private: false,
            also_allow: vec![lo],
        };
        assert!(exact.allows(lo));
        assert!(!exact.allows("127.0.0.1:81".parse().unwrap()));
    }
}
