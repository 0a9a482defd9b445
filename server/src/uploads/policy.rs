//! Which addresses the server may fetch a caller's URL from: public unicast only.
//!
//! A URL given by a user must never make the server reach its own machine, its private
//! network or a cloud metadata service (SSRF). Every address a host name resolves to is
//! vetted, and the connection then goes to the vetted address, not to a second lookup.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the URL fetcher may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Tests only (`--allow-private-media-urls`): loopback and private ranges too.
    pub allow_private: bool,
    /// Exact addresses allowed whatever their range; only code sets these (tests).
    pub also_allow: Vec<SocketAddr>,
}

impl AddressPolicy {
    pub fn strict() -> Self {
        AddressPolicy::default()
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
