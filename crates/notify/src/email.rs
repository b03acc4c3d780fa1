//! The email channel: SMTP with STARTTLS, implicit TLS or (for a local relay) plain text, and
//! AUTH when credentials are configured. Messages are multipart (plain text and HTML) with a
//! stable `Message-ID` per notification, so a retried delivery that had in fact arrived is
//! recognisable as the same message.

use crate::message::{DeliveryError, Outgoing};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An email address as the SMTP client checks it.
pub use lettre::Address;

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    #[serde(rename = "STARTTLS")]
    StartTls,
    /// TLS from the first byte (port 465).
    #[serde(rename = "TLS")]
    Tls,
    /// No encryption: only for a relay on the same host or network.
    #[serde(rename = "NONE")]
    None,
}

impl Security {
    pub fn parse(s: &str) -> Result<Security, String> {
        match s.to_ascii_lowercase().as_str() {
            "starttls" => Ok(Security::StartTls),
            "tls" | "ssl" | "smtps" => Ok(Security::Tls),
            "none" | "plain" => Ok(Security::None),
            other => Err(format!(
                "unknown SMTP security `{other}`: use STARTTLS, TLS or NONE"
            )),
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

/// Everything needed to send: the server, its protection, credentials and the sender.
#[derive(Clone, Debug, PartialEq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: String,
    pub from_address: String,
    pub from_name: String,
    pub reply_to: String,
    pub timeout: Duration,
    /// An extra trusted root certificate (PEM), for a relay with a private CA.
    pub ca_pem: Option<Vec<u8>>,
}

impl SmtpSettings {
    /// Reads `smtp://[user[:password]@]host[:port][?security=starttls|tls|none&timeout=SECONDS]`
    /// (`smtps://` means implicit TLS) with the sender address `from` (`Name <addr>` or `addr`).
    pub fn from_url(raw: &str, from: &str) -> Result<SmtpSettings, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("SMTP URL `{raw}`: {e}"))?;
        let mut security = match url.scheme() {
            "smtp" => Security::StartTls,
            "smtps" => Security::Tls,
            other => {
                return Err(format!(
                    "SMTP URL scheme `{other}` is not supported: use smtp:// or smtps://"
                ))
            }
        };
        let mut timeout = Duration::from_secs(30);
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "security" | "tls" => security = Security::parse(&v)?,
                "timeout" => {
                    let secs: u64 = v
                        .parse()
                        .ok()
                        .filter(|s| (1..=600).contains(s))
                        .ok_or_else(|| {
                            format!("SMTP URL timeout `{v}`: give whole seconds from 1 to 600")
                        })?;
                    timeout = Duration::from_secs(secs);
                }
                other => {
                    return Err(format!(
                        "SMTP URL parameter `{other}` is unknown: use security or timeout"
                    ))
                }
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the SMTP URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let decode = |s: &str| {
            percent_decode(s)
                .ok_or_else(|| "the SMTP URL's user or password is badly escaped".to_string())
        };
        let (from_name, from_address) = split_mailbox(from)?;
        Ok(SmtpSettings {
            port: url.port().unwrap_or(security.default_port()),
            host,
            security,
            username: decode(url.username())?,
            password: decode(url.password().unwrap_or(""))?,
            from_address,
            from_name,
            reply_to: String::new(),
            timeout,
            ca_pem: None,
        })
    }

    /// Checks the settings a sender needs, naming what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err("the SMTP host is required".into());
        }
        if self.port == 0 {
            return Err("the SMTP port must be between 1 and 65535".into());
        }
        self.from_address.parse::<lettre::Address>().map_err(|e| {
            format!(
                "the sender address `{}` is not valid: {e}",
                self.from_address
            )
        })?;
        if !self.reply_to.is_empty() {
            self.reply_to.parse::<lettre::Address>().map_err(|e| {
                format!("the reply-to address `{}` is not valid: {e}", self.reply_to)
            })?;
        }
        if self.password.is_empty() != self.username.is_empty() {
            return Err("give both an SMTP username and password, or neither".into());
        }
        if let Some(pem) = &self.ca_pem {
            let text = String::from_utf8_lossy(pem);
            if !text.contains("-----BEGIN CERTIFICATE-----") {
                return Err("the SMTP CA certificate is not a PEM certificate (-----BEGIN CERTIFICATE----- …)".into());
            }
            Certificate::from_pem(pem)
                .map_err(|e| format!("the SMTP CA certificate is not a PEM certificate: {e}"))?;
        }
        Ok(())
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
        let permanent = |what: &str, e: &dyn std::fmt::Display| {
            DeliveryError::Permanent(format!("SMTP {what}: {e}"))
        };
        let tls = || -> Result<TlsParameters, DeliveryError> {
            let mut b = TlsParameters::builder(self.host.clone());
            if let Some(pem) = &self.ca_pem {
                let cert =
                    Certificate::from_pem(pem).map_err(|e| permanent("CA certificate", &e))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| permanent("TLS settings", &e))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
            .port(self.port)
            .timeout(Some(self.timeout));
        b = match self.security {
            Security::StartTls => b.tls(Tls::Required(tls()?)),
            Security::Tls => b.tls(Tls::Wrapper(tls()?)),
            Security::None => b.tls(Tls::None),
        };
        if !self.username.is_empty() {
            b = b.credentials(Credentials::new(
                self.username.clone(),
                self.password.clone(),
            ));
        }
        Ok(b.build())
    }

    fn sender(&self) -> Result<Mailbox, DeliveryError> {
        let addr = self.from_address.parse().map_err(|e| {
            DeliveryError::Permanent(format!("the sender address `{}`: {e}", self.from_address))
        })?;
        let name = (!self.from_name.is_empty()).then(|| self.from_name.clone());
        Ok(Mailbox::new(name, addr))
    }
}

/// `Name <addr>` or `addr` → (name, addr).
fn split_mailbox(s: &str) -> Result<(String, String), String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(
            "a sender address is required (e.g. `Chamberlain <chamberlain@example.com>`)".into(),
        );
    }
    let mb: Mailbox = s
        .parse()
        .map_err(|e| format!("the sender `{s}` is not an email address: {e}"))?;
    Ok((mb.name.unwrap_or_default(), mb.email.to_string()))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The message for `msg`, addressed to `to`.
pub fn compose(s: &SmtpSettings, msg: &Outgoing, to: &str) -> Result<Message, DeliveryError> {
    let to_addr = to.parse().map_err(|e| {
        DeliveryError::Permanent(format!("the recipient address `{to}` is not valid: {e}"))
    })?;
    let name = (!msg.display_name.is_empty()).then(|| msg.display_name.clone());
    let domain = s.from_address.rsplit('@').next().unwrap_or("chamberlain");
    let mut b = Message::builder()
        .from(s.sender()?)
        .to(Mailbox::new(name, to_addr))
        .subject(msg.subject.clone())
        .message_id(Some(format!("<{}@{}>", msg.id, domain)));
    if !s.reply_to.is_empty() {
        if let Ok(addr) = s.reply_to.parse() {
            b = b.reply_to(Mailbox::new(None, addr));
        }
    }
    b.multipart(MultiPart::alternative_plain_html(
        plain_body(msg),
        html_body(msg),
    ))
    .map_err(|e| DeliveryError::Permanent(format!("the message could not be built: {e}")))
}

/// The plain-text body: the text, then the link.
pub fn plain_body(msg: &Outgoing) -> String {
    let mut out = msg.text.trim_end().to_string();
    if !msg.link.is_empty() {
        out.push_str("\n\nOpen in Chamberlain: ");
        out.push_str(&msg.link);
    }
    out.push_str("\n\n-- \nYou get this because of your Chamberlain notification settings.\n");
    out
}

/// The HTML body: the same content, escaped, with the link as a button.
pub fn html_body(msg: &Outgoing) -> String {
    let paragraphs: String = msg
        .text
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>")))
        .collect();
    let link = if msg.link.is_empty() {
        String::new()
    } else {
        format!(
            "<p><a href=\"{0}\" style=\"display:inline-block;padding:8px 16px;background:#1f4e8c;color:#fff;text-decoration:none;border-radius:4px\">Open in Chamberlain</a></p>",
            escape(&msg.link)
        )
    };
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.4\"><h2 style=\"font-size:16px\">{}</h2>{paragraphs}{link}<p style=\"color:#666;font-size:12px\">You get this because of your Chamberlain notification settings.</p></body></html>",
        escape(&msg.subject)
    )
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Sends `msg` to its recipient's email address. A 5xx reply (mailbox refused, credentials
/// rejected) is permanent; connection failures, timeouts and 4xx replies are worth retrying.
pub async fn send(s: &SmtpSettings, msg: &Outgoing) -> Result<(), DeliveryError> {
    if msg.email.is_empty() {
        return Err(DeliveryError::Permanent(
            "the user has no email address".into(),
        ));
    }
    let message = compose(s, msg, &msg.email)?;
    let transport = s.transport()?;
    // The transport's timeout covers each socket operation; this bounds the whole exchange, so
    // a server that accepts the connection and then stops answering cannot hold a worker slot.
    let limit = s.timeout.saturating_mul(4);
    match tokio::time::timeout(limit, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(classify(&e, s)),
        Err(_) => Err(DeliveryError::Retryable(format!(
            "SMTP {}:{}: the server stopped answering (timed out after {}s)",
            s.host,
            s.port,
            limit.as_secs()
        ))),
    }
}

fn classify(e: &lettre::transport::smtp::Error, s: &SmtpSettings) -> DeliveryError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let t = inner.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = inner.source();
    }
    let text = format!("SMTP {}:{}: {text}", s.host, s.port);
    if e.is_permanent() {
        DeliveryError::Permanent(text)
    } else if e.is_timeout() {
        DeliveryError::Retryable(format!("{text} (timed out after {}s)", s.timeout.as_secs()))
    } else {
        DeliveryError::Retryable(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_read_and_refused_clearly() {
        let s = SmtpSettings::from_url(
            "smtp://mailer:p%40ss@mail.example.com?timeout=5",
            "Chamberlain <noreply@example.com>",
        )
        .unwrap();
        assert_eq!(s.host, "mail.example.com");
        assert_eq!(s.port, 587);
        assert_eq!(s.security, Security::StartTls);
        assert_eq!(
            (s.username.as_str(), s.password.as_str()),
            ("mailer", "p@ss")
        );
        assert_eq!(s.from_name, "Chamberlain");
        assert_eq!(s.timeout, Duration::from_secs(5));
        let tls = SmtpSettings::from_url("smtps://mail.example.com", "a@example.com").unwrap();
        assert_eq!((tls.security, tls.port), (Security::Tls, 465));
        let plain =
            SmtpSettings::from_url("smtp://127.0.0.1:2525?security=none", "a@example.com").unwrap();
        assert_eq!((plain.security, plain.port), (Security::None, 2525));
        for (url, from, wanted) in [
            ("http://x", "a@example.com", "scheme `http`"),
            (
                "smtp://x?security=maybe",
                "a@example.com",
                "unknown SMTP security",
            ),
            ("smtp://x?timeout=0", "a@example.com", "timeout"),
            ("smtp://x?port=1", "a@example.com", "parameter `port`"),
            ("smtp://x", "", "sender address is required"),
            ("smtp://x", "not an address", "not an email address"),
        ] {
            let e = SmtpSettings::from_url(url, from).unwrap_err();
            assert!(e.contains(wanted), "{url} {from}: {e}");
        }
    }

    #[test]
    fn bodies_escape_and_link() {
        let msg = Outgoing {
            id: "n1".into(),
            kind: crate::NotificationKind::Completion,
            user_id: "u".into(),
            email: "a@example.com".into(),
            display_name: "A".into(),
            subject: "Request #3 <approved>".into(),
            text: "Line one\n\nLine <two> & more".into(),
            link: "https://c.example.com/app/tasks/t?x=1&y=2".into(),
            task_id: None,
            task_actions: false,
        };
        let html = html_body(&msg);
        assert!(html.contains("Line &lt;two&gt; &amp; more"));
        assert!(html.contains("href=\"https://c.example.com/app/tasks/t?x=1&amp;y=2\""));
        assert!(plain_body(&msg)
            .contains("Open in Chamberlain: https://c.example.com/app/tasks/t?x=1&y=2"));
    }
}
