//! Where the platform may send a merchant's notifications: a guard against server-side
//! request forgery.
//!
//! A notify URL is the merchant's to choose, and the platform POSTs to it from inside its own
//! network. Unless the operator allows private destinations (`PaymentsConfig::
//! notify_private_allowed`, for development and tests), a notify URL must be `https`, and its
//! host must be public: no `localhost`, no loopback, private, link-local (cloud metadata at
//! 169.254.169.254), carrier-grade NAT, unique-local, multicast or reserved address. Names are
//! checked when the URL is set, and again at every delivery by the HTTP client's resolver, so
//! a name that later resolves to an inside address (DNS rebinding) is refused too. Redirects
//! are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || is_nat64_inside(v6))
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || a >= 240) // reserved
}

/// `64:ff9b::/96` carries an IPv4 address: judge that one.
fn is_nat64_inside(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return !is_public_v4(v4);
    }
    false
}

/// The host of an `http(s)://` URL, without brackets or port.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// Why a URL's host may not receive notifications, if it may not: `localhost`, or an address
/// literal that is not public (in any of the spellings an HTTP client accepts).
pub fn refuses_host(host: &str) -> Option<&'static str> {
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Some("localhost");
    }
    if let Ok(ip) = lower.parse::<IpAddr>() {
        return (!is_public(ip)).then_some("a private or reserved address");
    }
    // 2130706433, 0x7f000001, 017700000001, 127.1 …: numeric hosts are addresses in disguise.
    let numeric = lower
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_hexdigit() || b == b'x'))
        && lower
            .split('.')
            .next_back()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x"));
    numeric.then_some("a numeric address")
}

/// The HTTP client's resolver when private destinations are not allowed: resolves as usual,
/// then keeps only public addresses.
#[derive(Debug)]
pub(crate) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err("the notify host resolves to no public address".into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_refused() {
        for host in [
            "localhost",
            "api.localhost",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2130706433",
            "0x7f000001",
            "127.1",
        ] {
            assert!(refuses_host(host).is_some(), "{host}");
        }
        for host in [
            "merchant.example.com",
            "93.184.216.34",
            "2606:4700::1111",
            "8.8.8.8",
        ] {
            assert_eq!(refuses_host(host), None, "{host}");
        }
    }

    #[test]
    fn hosts_are_found_in_urls() {
        assert_eq!(
            host_of("https://shop.example.com/notify"),
            Some("shop.example.com")
        );
        assert_eq!(
            host_of("https://shop.example.com:8443/n?x=1"),
            Some("shop.example.com")
        );
        assert_eq!(host_of("https://user@10.0.0.1/n"), Some("10.0.0.1"));
        assert_eq!(host_of("https://[::1]:8080/n"), Some("::1"));
        assert_eq!(host_of("https:///n"), None);
        assert_eq!(host_of("ftp://x"), None);
    }
}
