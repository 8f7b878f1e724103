//! Where the gateways may send: one HTTP client for all of them, whose DNS resolver drops
//! the addresses a push target must never reach (a URL naming an address is checked
//! before), with no redirects followed and a timeout per request. So a user cannot point a
//! push target at the server's own network (SSRF): never at link-local or cloud metadata
//! addresses, nor, unless `allow_private` (development), at loopback or private ones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use domain::{Error, ErrorCode, Result};
use reqwest::Url;

/// Why `ip` is refused, if it is.
pub fn forbidden_ip(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4, allow_private),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4, allow_private),
            None => forbidden_v6(v6, allow_private),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr, allow_private: bool) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_link_local() {
        // 169.254.0.0/16, with the cloud metadata service at 169.254.169.254.
        return Some("a link-local or metadata address");
    }
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 || a >= 240 {
        return Some("not a unicast address");
    }
    let private = ip.is_loopback() || ip.is_private() || (a == 100 && (64..128).contains(&b));
    (private && !allow_private).then_some("a loopback or private address")
}

fn forbidden_v6(ip: Ipv6Addr, allow_private: bool) -> Option<&'static str> {
    let first = ip.segments()[0];
    // fe80::/10 link-local; fd00:ec2::254 is a cloud metadata service.
    if first & 0xffc0 == 0xfe80 || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("a link-local or metadata address");
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Some("not a unicast address");
    }
    let private = ip.is_loopback() || first & 0xfe00 == 0xfc00;
    (private && !allow_private).then_some("a loopback or private address")
}

/// Checks a target URL: absolute, HTTPS (or HTTP to loopback when `allow_private`), no
/// credentials, and not naming a forbidden address. Returns it parsed.
pub fn check_url(url: &str, allow_private: bool) -> Result<Url> {
    let bad = |why: String| Error::invalid(ErrorCode::InvalidPushTarget, why);
    if url.len() > 2048 {
        return Err(bad("a push URL is at most 2048 bytes".into()));
    }
    let parsed = Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("a push URL carries no credentials".into()));
    }
    let host = parsed.host().ok_or_else(|| bad("a push URL names a host".into()))?;
    let ip = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    };
    let loopback = ip.is_some_and(|ip| ip.is_loopback()) || parsed.host_str() == Some("localhost");
    match parsed.scheme() {
        "https" => {}
        "http" if loopback && allow_private => {}
        _ => return Err(bad("a push URL is https (http only to loopback, in development)".into())),
    }
    if let Some(why) = ip.and_then(|ip| forbidden_ip(ip, allow_private)) {
        return Err(Error::invalid(ErrorCode::ForbiddenPushAddress, format!("the push URL names {why}")));
    }
    if parsed.host_str() == Some("localhost") && !allow_private {
        return Err(Error::invalid(ErrorCode::ForbiddenPushAddress, "the push URL names a loopback address"));
    }
    Ok(parsed)
}

/// Resolves names, keeping only the addresses a push may go to.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                all.iter().copied().filter(|a| forbidden_ip(a.ip(), allow_private).is_none()).collect();
            if allowed.is_empty() {
                let why = format!("{host} resolves only to forbidden addresses ({} found)", all.len());
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client of the gateways.
pub fn client(allow_private: bool, timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("petit-chat/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal(format!("cannot build the push HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_refused_as_documented() {
        let cases: &[(&str, bool, bool)] = &[
            // (address, refused in production, refused in development)
            ("169.254.169.254", true, true),
            ("169.254.1.1", true, true),
            ("fe80::1", true, true),
            ("fd00:ec2::254", true, true),
            ("0.0.0.0", true, true),
            ("224.0.0.1", true, true),
            ("::ffff:169.254.169.254", true, true),
            ("127.0.0.1", true, false),
            ("::1", true, false),
            ("10.1.2.3", true, false),
            ("172.16.0.1", true, false),
            ("192.168.1.1", true, false),
            ("100.64.0.1", true, false),
            ("fd12::1", true, false),
            ("::ffff:10.0.0.1", true, false),
            ("93.184.216.34", false, false),
            ("2606:4700::1111", false, false),
        ];
        for (ip, production, development) in cases {
            let ip: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip}"));
            assert_eq!(forbidden_ip(ip, false).is_some(), *production, "{ip} in production");
            assert_eq!(forbidden_ip(ip, true).is_some(), *development, "{ip} in development");
        }
    }

    #[test]
    fn urls_are_checked() {
        let code = |url: &str, dev: bool| check_url(url, dev).err().map(|e| e.code);
        assert_eq!(code("https://push.example.com/x", false), None);
        assert_eq!(code("http://127.0.0.1:9000/x", true), None);
        assert_eq!(code("http://push.example.com/x", true), Some(ErrorCode::InvalidPushTarget));
        assert_eq!(code("http://127.0.0.1:9000/x", false), Some(ErrorCode::InvalidPushTarget));
        assert_eq!(code("https://127.0.0.1/x", false), Some(ErrorCode::ForbiddenPushAddress));
        assert_eq!(code("https://localhost/x", false), Some(ErrorCode::ForbiddenPushAddress));
        assert_eq!(code("https://169.254.169.254/latest", true), Some(ErrorCode::ForbiddenPushAddress));
        assert_eq!(code("https://[fe80::1]/x", true), Some(ErrorCode::ForbiddenPushAddress));
        assert_eq!(code("https://u:p@push.example.com/x", false), Some(ErrorCode::InvalidPushTarget));
        assert_eq!(code("ftp://push.example.com/x", false), Some(ErrorCode::InvalidPushTarget));
        assert_eq!(code("not a url", false), Some(ErrorCode::InvalidPushTarget));
    }
}
