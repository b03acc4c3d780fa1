//! The single sign-on flow in the browser.
//!
//! - `GET /auth/v1/sso/start?return_to=…`: discovers the provider, makes a `state`, a `nonce`
//!   and a PKCE verifier, keeps them with the destination in a sealed cookie that lives
//!   [`ATTEMPT_SECS`] (AES-GCM with the server's secret box: nothing is stored, any replica
//!   can finish the sign-in), and sends the browser to the provider.
//! - `GET /auth/v1/sso/callback`: the cookie is cleared whatever happens; the `state` must be
//!   the cookie's, then the code is exchanged (with the verifier), the ID token verified, the
//!   email matched to a user, and the same session as a password sign-in opened.
//!
//! One attempt per browser at a time: starting again replaces the cookie. Every failure is a
//! page saying what went wrong and what to do, and changes nothing.

use super::oidc::{self, OidcError};
use super::{Sso, CALLBACK_PATH};
use crate::oauth::pages::{self, escape};
use crate::oauth::session::{self, safe_return_to, see_other, with_cookie};
use crate::state::{AppState, Shared};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chamberlain_auth::password;
use chamberlain_model::user::UserStatus;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::web_auth;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;

/// How long a sign-in attempt may take at the provider.
pub const ATTEMPT_SECS: i64 = 10 * 60;
const ATTEMPT_CONTEXT: &str = "sso:attempt";

/// A sign-in attempt, sealed into the attempt cookie.
#[derive(Serialize, Deserialize)]
struct Attempt {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
    issuer: String,
    client_id: String,
    expires: i64,
}

fn attempt_cookie(state: &AppState) -> &'static str {
    if state.public_url.starts_with("https://") {
        "__Host-chamberlain_sso"
    } else {
        "chamberlain_sso"
    }
}

fn clear_attempt(state: &AppState) -> Option<HeaderValue> {
    Some(session::set_cookie(state, attempt_cookie(state), "", 0))
}

/// A page about a sign-in that did not happen, with the way back to the sign-in page.
fn problem(status: StatusCode, title: &str, message: &str, return_to: &str) -> Response {
    let mut back = reqwest::Url::parse("http://x/auth/v1/signin").expect("static URL");
    if !return_to.is_empty() {
        back.query_pairs_mut().append_pair("return_to", return_to);
    }
    let href = match back.query() {
        Some(q) => format!("/auth/v1/signin?{q}"),
        None => "/auth/v1/signin".into(),
    };
    pages::html(
        status,
        pages::page(
            title,
            &format!(
                "<h1>{}</h1><p class=\"error\" id=\"error\">{}</p><p><a id=\"back\" href=\"{}\">Back to sign-in</a></p>",
                escape(title),
                escape(message),
                escape(&href)
            ),
        ),
    )
}

fn query(q: Option<String>) -> HashMap<String, String> {
    crate::extract::url_pairs(&q.unwrap_or_default())
        .into_iter()
        .collect()
}

/// The settings in force, or the page that says why single sign-on cannot be used.
async fn settings_or_page(s: &Shared, return_to: &str) -> Result<Sso, Box<Response>> {
    match super::effective(s).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(Box::new(problem(
            StatusCode::NOT_FOUND,
            "Single sign-on is not available",
            "Single sign-on is not set up on this Chamberlain server; sign in with your email address and password.",
            return_to,
        ))),
        Err(e) => {
            tracing::error!(error = %e, "the SSO settings are unusable");
            Err(Box::new(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Single sign-on is not available",
                "The single sign-on settings of this server are unusable; an administrator must save them again.",
                return_to,
            )))
        }
    }
}

/// The page for a failed exchange with the provider.
fn provider_problem(e: &OidcError, issuer: &str, return_to: &str) -> Response {
    match e {
        OidcError::Unavailable(m) => problem(
            StatusCode::BAD_GATEWAY,
            "The identity provider is not reachable",
            &format!("Chamberlain could not reach the identity provider {issuer}: {m}. Try again in a moment, or sign in with your password."),
            return_to,
        ),
        OidcError::TokenRefused { error, .. } if error == "invalid_client" || error == "unauthorized_client" => problem(
            StatusCode::BAD_GATEWAY,
            "Single sign-on is misconfigured",
            &format!("The identity provider refused Chamberlain's client credentials ({e}). An administrator must check the client id and client secret in the single sign-on settings."),
            return_to,
        ),
        OidcError::TokenRefused { .. } => problem(
            StatusCode::BAD_GATEWAY,
            "Sign-in failed",
            &format!("The identity provider did not accept this sign-in ({e}). Start again."),
            return_to,
        ),
        OidcError::Provider(m) => problem(
            StatusCode::BAD_GATEWAY,
            "Single sign-on is misconfigured",
            &format!("The identity provider's answer is unusable: {m}. An administrator must check the single sign-on settings."),
            return_to,
        ),
        OidcError::Invalid(m) => problem(
            StatusCode::BAD_GATEWAY,
            "Sign-in refused",
            &format!("The identity provider's ID token was refused: {m}."),
            return_to,
        ),
    }
}

/// `GET /auth/v1/sso/start[?return_to=…]`.
pub async fn start(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = query(q);
    let return_to = safe_return_to(q.get("return_to").map(String::as_str).unwrap_or(""));
    let sso = match settings_or_page(&s, &return_to).await {
        Ok(v) => v,
        Err(page) => return *page,
    };
    let guard = super::guard(&s);
    let d = match oidc::discover(&guard, &sso.issuer_url).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, issuer = sso.issuer_url, "SSO discovery failed");
            return provider_problem(&e, &sso.issuer_url, &return_to);
        }
    };
    if let Some(methods) = &d.code_challenge_methods_supported {
        if !methods.iter().any(|m| m == "S256") {
            return problem(
                StatusCode::BAD_GATEWAY,
                "Single sign-on is misconfigured",
                &format!("The identity provider {} does not support PKCE with S256, which Chamberlain requires.", sso.issuer_url),
                &return_to,
            );
        }
    }
    let attempt = Attempt {
        state: password::random_token(32),
        nonce: password::random_token(32),
        verifier: password::random_token(48),
        return_to,
        issuer: sso.issuer_url.clone(),
        client_id: sso.client_id.clone(),
        expires: Timestamp::now().unix_seconds() + ATTEMPT_SECS,
    };
    let Ok(mut url) = reqwest::Url::parse(&d.authorization_endpoint) else {
        return provider_problem(
            &OidcError::Provider("its authorization_endpoint is not a URL".into()),
            &sso.issuer_url,
            &attempt.return_to,
        );
    };
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(attempt.verifier.as_bytes()))
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &sso.client_id)
        .append_pair("redirect_uri", &redirect_uri(&s))
        .append_pair("scope", &sso.scope())
        .append_pair("state", &attempt.state)
        .append_pair("nonce", &attempt.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let sealed = s.secrets.seal(
        serde_json::to_string(&attempt)
            .unwrap_or_default()
            .as_bytes(),
        ATTEMPT_CONTEXT,
    );
    with_cookie(
        see_other(url.as_str()),
        Some(session::set_cookie(
            &s,
            attempt_cookie(&s),
            &sealed,
            ATTEMPT_SECS,
        )),
    )
}

fn redirect_uri(s: &AppState) -> String {
    format!("{}{CALLBACK_PATH}", s.public_url.trim_end_matches('/'))
}

/// `GET /auth/v1/sso/callback?code=…&state=…` (or `error=…`).
pub async fn callback(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let resp = finish(&s, &headers, query(q)).await;
    with_cookie(resp, clear_attempt(&s))
}

async fn finish(s: &Shared, headers: &HeaderMap, q: HashMap<String, String>) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let attempt: Option<Attempt> = session::cookie(headers, attempt_cookie(s))
        .and_then(|c| s.secrets.open(&c, ATTEMPT_CONTEXT).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(attempt) = attempt else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Sign-in attempt not found",
            "This browser has no single sign-on attempt in progress (it was finished already, started in another browser, or cookies are blocked). Start again from the sign-in page.",
            "",
        );
    };
    let return_to = safe_return_to(&attempt.return_to);
    if attempt.expires < Timestamp::now().unix_seconds() {
        return problem(
            StatusCode::BAD_REQUEST,
            "Sign-in attempt expired",
            "The sign-in at the identity provider took longer than 10 minutes. Start again.",
            &return_to,
        );
    }
    if get("state").is_empty() || !password::ct_eq(get("state"), &attempt.state) {
        tracing::warn!("SSO callback with a state that is not this browser's attempt");
        return problem(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            "The answer from the identity provider does not belong to the sign-in this browser started (its state does not match). Start again.",
            &return_to,
        );
    }
    if !get("error").is_empty() {
        let what = match get("error") {
            "access_denied" => {
                "you cancelled the sign-in, or the identity provider denied it".to_string()
            }
            other => format!("the identity provider answered `{other}`"),
        };
        let detail = match get("error_description") {
            "" => String::new(),
            d => format!(" ({d})"),
        };
        return problem(
            StatusCode::FORBIDDEN,
            "Not signed in",
            &format!("Single sign-on did not sign you in: {what}{detail}. Start again, or sign in with your password."),
            &return_to,
        );
    }
    let sso = match settings_or_page(s, &return_to).await {
        Ok(v) => v,
        Err(page) => return *page,
    };
    if sso.issuer_url != attempt.issuer || sso.client_id != attempt.client_id {
        return problem(
            StatusCode::CONFLICT,
            "Sign-in attempt outdated",
            "The single sign-on settings changed while you were at the identity provider. Start again.",
            &return_to,
        );
    }
    let guard = super::guard(s);
    let d = match oidc::discover(&guard, &sso.issuer_url).await {
        Ok(d) => d,
        Err(e) => return provider_problem(&e, &sso.issuer_url, &return_to),
    };
    if !get("iss").is_empty() && get("iss") != d.issuer {
        return problem(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            &format!(
                "The answer names the issuer `{}`, not the configured provider `{}`.",
                get("iss"),
                d.issuer
            ),
            &return_to,
        );
    }
    if get("code").is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            "The identity provider's answer has no authorization code. Start again.",
            &return_to,
        );
    }
    let verified = async {
        let auth = oidc::client_auth(&sso.token_endpoint_auth_method, &d)?;
        let tokens = oidc::exchange(
            &guard,
            &d,
            auth,
            &sso.client_id,
            &sso.client_secret,
            get("code"),
            &redirect_uri(s),
            &attempt.verifier,
        )
        .await?;
        let claims = oidc::verify_id_token(
            &guard,
            &d,
            &tokens.id_token,
            &sso.client_id,
            &attempt.nonce,
            Timestamp::now().unix_seconds(),
        )
        .await?;
        let sub = claims["sub"].as_str().unwrap_or_default().to_string();
        let about = if claims.get("email").and_then(Value::as_str).is_some() {
            claims.clone()
        } else {
            oidc::userinfo(&guard, &d, &tokens.access_token, &sub).await?
        };
        Ok::<_, OidcError>((sub, about))
    }
    .await;
    let (sub, about) = match verified {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, issuer = sso.issuer_url, "SSO sign-in failed at the provider");
            return provider_problem(&e, &sso.issuer_url, &return_to);
        }
    };
    let email = about
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    if email.is_empty() {
        return problem(
            StatusCode::FORBIDDEN,
            "Not signed in",
            "The identity provider did not tell Chamberlain your email address (is the `email` scope granted?). Ask an administrator.",
            &return_to,
        );
    }
    if !oidc::is_true(about.get("email_verified")) {
        return problem(
            StatusCode::FORBIDDEN,
            "Email address not verified",
            &format!("Your identity provider does not report {email} as verified, and Chamberlain signs in only verified addresses. Verify it with your identity provider, or ask an administrator."),
            &return_to,
        );
    }
    if !sso.domain_allowed(&email) {
        return problem(
            StatusCode::FORBIDDEN,
            "Email domain not allowed",
            &format!("Single sign-on on this server is limited to {}; {email} is not in them. Ask an administrator.", sso.allowed_email_domains.join(", ")),
            &return_to,
        );
    }
    let user = match web_auth::user_by_email(&s.store, &email).await {
        Ok(u) => u.filter(|u| u.status == UserStatus::Enabled),
        Err(e) => {
            tracing::error!(error = %e, "SSO: user lookup failed");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is temporarily unavailable",
                "Chamberlain could not look up your account; try again.",
                &return_to,
            );
        }
    };
    let Some(user) = user else {
        tracing::info!(email, "SSO sign-in: no enabled user has this email");
        return problem(
            StatusCode::FORBIDDEN,
            "No Chamberlain account",
            &format!("You signed in at the identity provider as {email}, but no enabled Chamberlain user has that email address. Ask an administrator to add you (single sign-on does not create users)."),
            &return_to,
        );
    };
    let detail = json!({"method": "sso", "issuer": d.issuer, "subject": sub, "email": email});
    match session::open_session(s, &user, "web:sso", Some(detail), &return_to).await {
        Ok(resp) => {
            tracing::info!(user_id = user.id, "SSO sign-in");
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "SSO: creating the session failed");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is temporarily unavailable",
                "Chamberlain could not create your session; try again.",
                &return_to,
            )
        }
    }
}
