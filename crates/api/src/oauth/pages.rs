//! The server-rendered pages of sign-in and consent: plain HTML forms (no JavaScript), every
//! interpolated value escaped, sent with headers that forbid framing and caching.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=email],input[type=password]{width:100%;padding:.4rem}\
button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.error{color:#a00;border:1px solid #a00;padding:.5rem}\
dl{display:grid;grid-template-columns:max-content auto;gap:.3rem 1rem}dt{font-weight:600}code{word-break:break-all}";

/// A whole page around `body` (already escaped HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} · Chamberlain</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// An HTML response with protective headers.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

/// An error page (never a redirect): for requests whose client or redirect URI could not be
/// trusted, and for bad form posts.
pub fn error(status: StatusCode, title: &str, message: &str) -> Response {
    html(
        status,
        page(
            title,
            &format!(
                "<h1>{}</h1><p class=\"error\" id=\"error\">{}</p>",
                escape(title),
                escape(message)
            ),
        ),
    )
}

pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(name),
        escape(value)
    )
}

/// The sign-in form.
pub fn signin(csrf: &str, return_to: &str, email: &str, problem: Option<&str>) -> String {
    signin_with_sso(csrf, return_to, email, problem, None)
}

/// The sign-in form, with a "Sign in with <sso>" button when single sign-on is enabled.
pub fn signin_with_sso(
    csrf: &str,
    return_to: &str,
    email: &str,
    problem: Option<&str>,
    sso: Option<&str>,
) -> String {
    let problem = problem
        .map(|p| format!("<p class=\"error\" id=\"error\">{}</p>", escape(p)))
        .unwrap_or_default();
    let sso = sso
        .map(|name| {
            format!(
                "<form method=\"get\" action=\"/auth/v1/sso/start\">{}<button id=\"sso\" type=\"submit\">Sign in with {}</button></form><p>or with your email address and password:</p>",
                if return_to.is_empty() { String::new() } else { hidden("return_to", return_to) },
                escape(name)
            )
        })
        .unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in to Chamberlain</h1>{problem}{sso}<form method=\"post\" action=\"/auth/v1/signin\">{}{}\
<label for=\"email\">Email</label><input id=\"email\" type=\"email\" name=\"email\" value=\"{}\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label><input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>",
            hidden("csrf", csrf),
            hidden("return_to", return_to),
            escape(email)
        ),
    )
}

/// What the consent page shows about the request.
pub struct Consent<'a> {
    /// The client's name.
    pub client_name: &'a str,
    /// Host of the redirect URI.
    pub redirect_host: &'a str,
    /// Verified domain (CIMD clients), else empty.
    pub verified_domain: &'a str,
    /// How the client is registered.
    pub registration: &'a str,
    /// The resource.
    pub resource: &'a str,
    /// The signed-in user's email.
    pub user_email: &'a str,
}

/// The consent page: the request's parameters travel in hidden fields and are validated again
/// when the form comes back.
pub fn consent(csrf: &str, c: &Consent<'_>, params: &[(&str, &str)]) -> String {
    let fields: String = params.iter().map(|(k, v)| hidden(k, v)).collect();
    let domain = if c.verified_domain.is_empty() {
        "<dd>none (registered dynamically; its name is self-declared)</dd>".to_string()
    } else {
        format!(
            "<dd id=\"verified-domain\">{}</dd>",
            escape(c.verified_domain)
        )
    };
    page(
        "Authorize AI client",
        &format!(
            "<h1>Allow <span id=\"client-name\">{}</span> to use Chamberlain's MCP tools as you?</h1>\
<p>Signed in as {}.</p><dl><dt>Client</dt><dd>{}</dd><dt>Registration</dt><dd>{}</dd><dt>Verified domain</dt>{domain}\
<dt>Sends you back to</dt><dd id=\"redirect-host\"><code>{}</code></dd><dt>Resource</dt><dd id=\"resource\"><code>{}</code></dd></dl>\
<p>The client will see and call only the tools your access grants you. You can revoke it at any time.</p>\
<form method=\"post\" action=\"/auth/v1/authorize\">{}{fields}\
<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button><button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            escape(c.client_name),
            escape(c.user_email),
            escape(c.client_name),
            escape(c.registration),
            escape(c.redirect_host),
            escape(c.resource),
            hidden("csrf", csrf),
        ),
    )
}

/// The page shown to a signed-in user who came to sign in without a destination.
pub fn signed_in(csrf: &str, email: &str) -> String {
    page(
        "Signed in",
        &format!(
            "<h1>Signed in</h1><p id=\"signed-in\">You are signed in as {}.</p><form method=\"post\" action=\"/auth/v1/signout\">{}<button type=\"submit\">Sign out</button></form>",
            escape(email),
            hidden("csrf", csrf)
        ),
    )
}

/// After sign-out.
pub fn signed_out() -> String {
    page(
        "Signed out",
        "<h1>Signed out</h1><p id=\"signed-out\">You are signed out.</p>",
    )
}

/// The device sign-in page where a signed-in user types the code the command-line client shows
/// (RFC 8628 `verification_uri`).
pub fn device_entry(email: &str, code: &str, problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| format!("<p class=\"error\" id=\"error\">{}</p>", escape(p)))
        .unwrap_or_default();
    page(
        "Sign in a device",
        &format!(
            "<h1>Sign in a device</h1>{problem}<p>Signed in as {}. Enter the code your command-line client shows.</p>\
<form method=\"get\" action=\"/auth/v1/device\"><label for=\"user_code\">Code</label>\
<input id=\"user_code\" name=\"user_code\" value=\"{}\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" required autofocus>\
<button type=\"submit\">Continue</button></form>",
            escape(email),
            escape(code)
        ),
    )
}

/// The device confirmation page: who asks, as whom, and Approve / Deny.
pub fn device_confirm(
    csrf: &str,
    email: &str,
    client_name: &str,
    client_id: &str,
    code: &str,
) -> String {
    page(
        "Approve device sign-in",
        &format!(
            "<h1>Allow <span id=\"client-name\">{}</span> to act as you?</h1>\
<p>Signed in as <span id=\"user-email\">{}</span>.</p><dl><dt>Client</dt><dd><code>{}</code></dd>\
<dt>Code</dt><dd id=\"user-code\"><code>{}</code></dd></dl>\
<p>Approve only if you started this sign-in yourself and the code matches the one on your screen. \
The client gets access to Chamberlain's API with your roles.</p>\
<form method=\"post\" action=\"/auth/v1/device\">{}{}\
<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            escape(client_name),
            escape(email),
            escape(client_id),
            escape(code),
            hidden("csrf", csrf),
            hidden("user_code", code),
        ),
    )
}

/// After a device decision.
pub fn device_done(approved: bool) -> String {
    if approved {
        page(
            "Device approved",
            "<h1>Device approved</h1><p id=\"device-approved\">You can close this page and return to your terminal.</p>",
        )
    } else {
        page(
            "Device denied",
            "<h1>Device denied</h1><p id=\"device-denied\">The sign-in was denied; the device gets no access.</p>",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped() {
        assert_eq!(
            escape("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
        let p = consent(
            "c",
            &Consent {
                client_name: "<img src=x onerror=alert(1)>",
                redirect_host: "a\"b",
                verified_domain: "",
                registration: "DCR",
                resource: "r",
                user_email: "u@x",
            },
            &[("state", "\"><script>")],
        );
        assert!(!p.contains("<img"));
        assert!(!p.contains("<script>"));
    }
}
