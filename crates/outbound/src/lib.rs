//! The outbound-request guard. Every request the server makes to an address a user or admin
//! chose (webhooks, MCP servers, OAuth and client-metadata documents) goes through one
//! [`Guard`]: URL rules (scheme, no user info, optional port rule), destination rules (no
//! private, loopback, link-local or otherwise internal address unless the host is explicitly
//! allow-listed), DNS pinned to the checked address, no redirects, time and size limits.
//!
//! The allow-list exists for tests and development servers on loopback; production leaves it
//! empty.

use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why an outbound request was refused or failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OutboundError {
    /// The destination is not allowed; retrying cannot help.
    #[error("{0}")]
    Refused(String),
    /// Network trouble, a timeout or an unresolvable name; worth trying again.
    #[error("{0}")]
    Unavailable(String),
    /// The answer was larger than the limit.
    #[error("{0}")]
    TooLarge(String),
}

/// What a destination must satisfy, and what the refusals call the requests.
#[derive(Clone, Debug)]
pub struct Guard {
    /// Hosts (`host` or `host:port`) exempt from the HTTPS, port and address rules.
    allow: Vec<String>,
    /// Plural noun naming the requests in messages, e.g. "webhooks", "MCP servers".
    what: &'static str,
    /// Whether a non-allow-listed URL must use port 443 (C1's webhook rule).
    only_port_443: bool,
}

impl Guard {
    /// A guard for `what` (used in messages) with an allow-list of hosts.
    pub fn new(what: &'static str, allow: Vec<String>) -> Self {
        Guard {
            allow,
            what,
            only_port_443: false,
        }
    }

    /// Also requires port 443 for hosts not on the allow-list.
    pub fn only_port_443(mut self) -> Self {
        self.only_port_443 = true;
        self
    }

    /// The allow-list.
    pub fn allow_list(&self) -> &[String] {
        &self.allow
    }

    /// Whether the URL's host (or host:port) is on the allow-list.
    pub fn is_allowed(&self, url: &Url) -> bool {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let bare = host_of(url);
        let port = url.port_or_known_default().unwrap_or(0);
        self.allow.iter().any(|e| {
            let e = e.trim().to_ascii_lowercase();
            !e.is_empty()
                && (e == host
                    || e == bare
                    || e == format!("{host}:{port}")
                    || e == format!("{bare}:{port}"))
        })
    }

    /// Checks a URL: `https://` (or `http://` for allow-listed hosts), a host, no user name or
    /// password, port 443 when required, and no literal internal address or `localhost` unless
    /// allow-listed. Returns the parsed URL or a message saying what is wrong with it.
    pub fn check_url(&self, raw: &str) -> Result<Url, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("url is required".into());
        }
        let url = Url::parse(raw).map_err(|e| format!("url `{raw}` is not a valid URL ({e})"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("url `{raw}` has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "url `{raw}` must not contain a user name or password"
            ));
        }
        let allowed = self.is_allowed(&url);
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            other => {
                return Err(format!(
                    "url `{raw}` must use https:// (it uses `{other}://`)"
                ))
            }
        }
        if allowed {
            return Ok(url);
        }
        if self.only_port_443 {
            if let Some(port) = url.port() {
                if port != 443 {
                    return Err(format!(
                        "url `{raw}` must use port 443 (it names port {port})"
                    ));
                }
            }
        }
        let host = host_of(&url);
        if let Ok(ip) = host.parse::<IpAddr>() {
            if is_blocked_ip(ip) {
                return Err(format!(
                    "url `{raw}` points at `{host}`, a private, loopback or link-local address; {} may only reach public addresses",
                    self.what
                ));
            }
        } else if host == "localhost" || host.ends_with(".localhost") {
            return Err(format!(
                "url `{raw}` points at `{host}`, a loopback name; {} may only reach public addresses",
                self.what
            ));
        }
        Ok(url)
    }

    /// Resolves the URL's host and refuses internal addresses (unless allow-listed). Returns
    /// the address to connect to, so the connection goes where the check looked (no DNS
    /// rebinding between check and connect).
    pub async fn resolve(&self, url: &Url) -> Result<SocketAddr, OutboundError> {
        let host = host_of(url);
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| OutboundError::Unavailable(format!("cannot resolve `{host}`: {e}")))?
                .collect(),
        };
        let Some(first) = addrs.first().copied() else {
            return Err(OutboundError::Unavailable(format!(
                "`{host}` resolves to no address"
            )));
        };
        if !self.is_allowed(url) {
            if let Some(bad) = addrs.iter().find(|a| is_blocked_ip(a.ip())) {
                return Err(OutboundError::Refused(format!(
                    "`{host}` resolves to {}, a private, loopback or link-local address; {} may only reach public addresses",
                    bad.ip(),
                    self.what
                )));
            }
        }
        Ok(first)
    }

    /// Checks `raw`, resolves it, and builds an HTTP client pinned to the checked address that
    /// follows no redirects and gives up after `timeout`. Keep the client for repeated calls to
    /// the same destination (it pools connections).
    pub async fn client(
        &self,
        raw: &str,
        timeout: Duration,
    ) -> Result<(Url, reqwest::Client), OutboundError> {
        let url = self.check_url(raw).map_err(OutboundError::Refused)?;
        let addr = self.resolve(&url).await?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .no_proxy();
        if let Some(domain) = url.domain() {
            builder = builder.resolve(domain, addr);
        }
        let client = builder.build().map_err(|e| {
            OutboundError::Unavailable(format!("cannot build the HTTP client: {e}"))
        })?;
        Ok((url, client))
    }
}

/// The URL's host without IPv6 brackets, lower case.
pub fn host_of(url: &Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Whether an address is internal: private, loopback, link-local, carrier-grade NAT,
/// unspecified, broadcast, multicast, unique-local (IPv4-mapped IPv6 judged as IPv4).
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    fn v4(a: Ipv4Addr) -> bool {
        let o = a.octets();
        a.is_private()
            || a.is_loopback()
            || a.is_link_local()
            || a.is_unspecified()
            || a.is_broadcast()
            || a.is_multicast()
            || (o[0] == 100 && (o[1] & 0xc0) == 64)
            || o[0] == 0
    }
    fn v6(a: Ipv6Addr) -> bool {
        if let Some(m) = a.to_ipv4_mapped() {
            return v4(m);
        }
        let s = a.segments();
        a.is_loopback()
            || a.is_unspecified()
            || a.is_multicast()
            || (s[0] & 0xfe00) == 0xfc00
            || (s[0] & 0xffc0) == 0xfe80
    }
    match ip {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => v6(a),
    }
}

/// An error with its causes, joined by `: ` (reqwest hides the useful part in the chain).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Reads a response body, refusing more than `max` bytes (checked before and while reading).
/// `what` names the body in the size message ("reply", "client metadata document").
pub async fn read_capped(
    mut resp: reqwest::Response,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, OutboundError> {
    let too_big = || OutboundError::TooLarge(format!("{what} larger than {} KB", max / 1024));
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_big());
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > max {
                    return Err(too_big());
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => {
                return Err(OutboundError::Unavailable(format!(
                    "reading the {what} failed: {}",
                    error_chain(&e)
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_rules() {
        let g = Guard::new("webhooks", vec![]).only_port_443();
        assert!(g.check_url("https://example.com/hook").is_ok());
        assert!(g.check_url("http://example.com/hook").is_err());
        assert!(g.check_url("https://example.com:8443/hook").is_err());
        assert!(g.check_url("https://u:p@example.com/hook").is_err());
        assert!(g.check_url("https://127.0.0.1/hook").is_err());
        assert!(g.check_url("https://localhost/hook").is_err());
        assert!(g.check_url("https://[::1]/hook").is_err());
        let any_port = Guard::new("MCP servers", vec![]);
        assert!(any_port.check_url("https://example.com:8443/mcp").is_ok());
        let allow = Guard::new("webhooks", vec!["127.0.0.1:8080".into()]).only_port_443();
        assert!(allow.check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(allow.check_url("http://127.0.0.1:8081/hook").is_err());
        let allow = Guard::new("webhooks", vec!["127.0.0.1".into()]);
        assert!(allow.check_url("http://127.0.0.1:9999/hook").is_ok());
        assert!(allow.check_url("https://u@127.0.0.1:9999/hook").is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused() {
        let url = Url::parse("https://localhost:1/x").unwrap();
        let g = Guard::new("webhooks", vec![]);
        assert!(matches!(
            g.resolve(&url).await,
            Err(OutboundError::Refused(_))
        ));
        let g = Guard::new("webhooks", vec!["localhost".into()]);
        assert!(g.resolve(&url).await.is_ok());
    }

    #[test]
    fn blocked_ranges() {
        for ip in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
