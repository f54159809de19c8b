//! Where the platform may send a merchant's notifications: a guard against server-side
//! request forgery.
//!
//! A notify URL is the merchant's to choose, and the platform POSTs to it from inside its own
//! network. Unless the operator allows private destinations (`OutboxConfig::
//! private_allowed`, for development and tests), a notify URL must be `https`, and its
//! host must be public: no `localhost`, no loopback, private, link-local (cloud metadata at
//! 169.254.169.254), carrier-grade NAT, unique-local, multicast or reserved address. Names are
//! checked when the URL is set, and again at every delivery by the HTTP client's resolver, so
//! a name that later resolves to an inside address (DNS rebinding) is refused too. Redirects
//! are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use cashless_kernel::{ServiceError, ServiceResult};

/// The longest notify URL.
pub const URL_CHARS_MAX: usize = 512;

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
                || first == 0x2002 // 6to4: an IPv4 address inside
                || (first == 0x64 && v6.segments()[1] == 0xff9b && v6.segments()[2] == 1) // local NAT64
                || is_v4_compatible(v6)
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

/// `::a.b.c.d` (deprecated IPv4-compatible addresses).
fn is_v4_compatible(v6: Ipv6Addr) -> bool {
    v6.segments()[..6] == [0; 6]
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

/// Why `url` may not receive notifications in production, if it may not. The URL is judged
/// as the HTTP client will read it (parsed by the same `url` crate, so percent-escapes,
/// full-width digits and backslashes mean what they mean to the client), not as written.
pub fn refusal(url: &reqwest::Url) -> Option<&'static str> {
    if url.scheme() != "https" {
        return Some("not https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("a URL with credentials");
    }
    match url.host()? {
        url::Host::Ipv4(v4) => {
            (!is_public(IpAddr::V4(v4))).then_some("a private or reserved address")
        }
        url::Host::Ipv6(v6) => {
            (!is_public(IpAddr::V6(v6))).then_some("a private or reserved address")
        }
        url::Host::Domain(domain) => {
            let lower = domain.trim_end_matches('.').to_ascii_lowercase();
            (lower == "localhost" || lower.ends_with(".localhost")).then_some("localhost")
        }
    }
}

/// A notify URL, checked and normalized: well formed, and (unless `private_allowed`) https to a
/// public host. The stored form is the parsed one, so what was checked is exactly what the
/// HTTP client will call.
pub fn check_url(url: &str, private_allowed: bool) -> ServiceResult<String> {
    let text = url.trim();
    let parsed = (text.len() <= URL_CHARS_MAX && !text.chars().any(char::is_whitespace))
        .then(|| reqwest::Url::parse(text).ok())
        .flatten()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
    let Some(parsed) = parsed else {
        return Err(ServiceError::invalid(
            "notify_url_invalid",
            format!("notify_url is an http(s) URL of at most {URL_CHARS_MAX} characters"),
        ));
    };
    if !private_allowed && let Some(why) = refusal(&parsed) {
        return Err(if why == "not https" {
            ServiceError::invalid(
                "notify_url_insecure",
                "notify_url must be https: notifications carry payment details",
            )
        } else {
            ServiceError::invalid(
                "notify_url_private",
                format!("notify_url must point at a public host, not {why}"),
            )
        });
    }
    Ok(parsed.as_str().to_owned())
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

    fn refused(url: &str) -> Option<&'static str> {
        refusal(&reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn inside_addresses_are_refused_however_they_are_spelled() {
        for url in [
            "http://merchant.example.com/n",
            "https://localhost/n",
            "https://api.localhost./n",
            "https://127.0.0.1/n",
            "https://10.1.2.3/n",
            "https://172.16.0.1/n",
            "https://192.168.1.1/n",
            "https://169.254.169.254/latest",
            "https://100.64.0.1/n",
            "https://0.0.0.0/n",
            "https://[::1]/n",
            "https://[fe80::1]/n",
            "https://[fd00::1]/n",
            "https://[::ffff:127.0.0.1]/n",
            "https://[::127.0.0.1]/n",
            "https://[2002:7f00:1::]/n",
            "https://[64:ff9b::a9fe:a9fe]/n",
            "https://2130706433/n",
            "https://0x7f000001/n",
            "https://127.1/n",
            "https://%31%32%37.0.0.1/n",
            "https://127.0.0.1%2e/n",
            "https://１２７。０。０。１/n",
            "https://127.0.0.1\\@shop.example/n",
            "https://user:pw@shop.example/n",
        ] {
            assert!(refused(url).is_some(), "{url}");
        }
        for url in [
            "https://merchant.example.com/notify",
            "https://93.184.216.34/n",
            "https://[2606:4700::1111]/n",
            "https://8.8.8.8:8443/n?x=1",
        ] {
            assert_eq!(refused(url), None, "{url}");
        }
    }
}
