//! Local password sign-in and browser sessions for the authorization pages.
//!
//! - Sessions: a random 256-bit token in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` and
//!   `__Host-` prefixed when the public URL is https); the database keeps its SHA-256. A session
//!   ends after [`IDLE_SECS`] without use or [`ABSOLUTE_SECS`] in all.
//! - CSRF: every form carries the value of a random CSRF cookie (double submit), compared in
//!   constant time; a cross-site `Origin` is refused as well.
//! - Sign-in: one generic failure message, the same Argon2id work for unknown accounts, and at
//!   most [`super::SIGNIN_MAX_FAILURES`] failures per email per window on each replica.

use super::pages;
use crate::state::{AppState, Shared};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chamberlain_auth::password;
use chamberlain_model::user::{User, UserStatus};
use chamberlain_model::Timestamp;
use chamberlain_store::repo::web_auth;
use chamberlain_store::AuditCtx;
use std::collections::HashMap;

/// Idle timeout of a sign-in session.
pub const IDLE_SECS: i64 = 30 * 60;
/// Absolute lifetime of a sign-in session.
pub const ABSOLUTE_SECS: i64 = 12 * 3600;

fn secure(state: &AppState) -> bool {
    state.public_url.starts_with("https://")
}

/// The session cookie's name.
pub fn session_cookie(state: &AppState) -> &'static str {
    if secure(state) {
        "__Host-chamberlain_session"
    } else {
        "chamberlain_session"
    }
}

/// The CSRF cookie's name.
pub fn csrf_cookie(state: &AppState) -> &'static str {
    if secure(state) {
        "__Host-chamberlain_csrf"
    } else {
        "chamberlain_csrf"
    }
}

/// A `Set-Cookie` value.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if secure(state) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The CSRF token for a form: the browser's CSRF cookie, or a new one to set.
pub fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, csrf_cookie(state)).filter(|v| v.len() >= 32 && v.len() <= 64) {
        Some(v) => (v, None),
        None => {
            let v = password::random_token(32);
            let set = set_cookie(state, csrf_cookie(state), &v, ABSOLUTE_SECS);
            (v, Some(set))
        }
    }
}

/// Checks a form's CSRF token against the cookie, and a present `Origin` against the public
/// URL. Returns the refusal page when they do not match.
pub fn check_csrf(state: &AppState, headers: &HeaderMap, form_token: &str) -> Result<(), Response> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if origin != "null" && origin != public_origin(state) {
            return Err(pages::error(
                StatusCode::FORBIDDEN,
                "Request refused",
                &format!("This form was posted from another site ({origin}); open the page on this server and try again."),
            ));
        }
    }
    let Some(cookie) = cookie(headers, csrf_cookie(state)) else {
        return Err(pages::error(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form's security cookie is missing (are cookies blocked?); reload the page and try again.",
        ));
    };
    if form_token.is_empty() || !password::ct_eq(&cookie, form_token) {
        return Err(pages::error(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form's security token is missing or does not match; reload the page and try again.",
        ));
    }
    Ok(())
}

/// `scheme://host[:port]` of the public URL.
fn public_origin(state: &AppState) -> &str {
    let p = state.public_url.trim_end_matches('/');
    match p.find("://") {
        Some(i) => match p[i + 3..].find('/') {
            Some(j) => &p[..i + 3 + j],
            None => p,
        },
        None => p,
    }
}

/// The signed-in user of a request, if its session is valid (known, within its idle and
/// absolute timeouts, user enabled). Records activity at most once a minute.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Option<(web_auth::WebSession, User)> {
    let token = cookie(headers, session_cookie(state))?;
    let s = web_auth::session(&state.store, &password::digest(&token))
        .await
        .ok()??;
    let now = Timestamp::now();
    let us = now.as_micros();
    if us >= s.expires_at || us - s.last_seen_at >= IDLE_SECS * 1_000_000 {
        return None;
    }
    let user: User = chamberlain_store::record::get(state.store.pool(), &s.user_id, false)
        .await
        .ok()??;
    if user.status != UserStatus::Enabled {
        return None;
    }
    if us - s.last_seen_at >= 60_000_000 {
        let _ = web_auth::touch_session(&state.store, &s.id, now).await;
    }
    Some((s, user))
}

/// Keeps a `return_to` only when it is a path on this server (the authorization endpoint, the
/// device page, an MCP connect page, a page of the web app): never another origin, so sign-in
/// cannot be used as an open redirect.
pub fn safe_return_to(v: &str) -> String {
    let local = v.starts_with('/')
        && !v.starts_with("//")
        && !v.contains('\\')
        && !v.chars().any(|c| c.is_control());
    if local && !v.contains("//") {
        v.to_string()
    } else {
        String::new()
    }
}

/// Sends the browser to the sign-in page, which returns to `return_to` (a path of this server
/// that [`safe_return_to`] accepts) after signing in.
pub fn signin_redirect(return_to: &str) -> Response {
    let mut signin = reqwest::Url::parse("http://x/auth/v1/signin").expect("static URL");
    signin.query_pairs_mut().append_pair("return_to", return_to);
    see_other(&format!("/auth/v1/signin?{}", signin.query().unwrap_or("")))
}

pub(crate) fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

pub(crate) fn with_cookie(mut resp: Response, set: Option<HeaderValue>) -> Response {
    if let Some(c) = set {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// The fields of a form body.
pub fn form(body: &[u8]) -> HashMap<String, String> {
    crate::extract::url_pairs(&String::from_utf8_lossy(body))
        .into_iter()
        .collect()
}

/// `GET /auth/v1/signin[?return_to=…]`.
pub async fn signin_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q: HashMap<String, String> = crate::extract::url_pairs(&q.unwrap_or_default())
        .into_iter()
        .collect();
    let return_to = safe_return_to(q.get("return_to").map(String::as_str).unwrap_or(""));
    let (csrf, set) = csrf_token(&s, &headers);
    if let Some((_, user)) = current(&s, &headers).await {
        if !return_to.is_empty() {
            return see_other(&return_to);
        }
        return with_cookie(
            pages::html(StatusCode::OK, pages::signed_in(&csrf, &user.email)),
            set,
        );
    }
    let sso = crate::sso::button(&s).await;
    with_cookie(
        pages::html(
            StatusCode::OK,
            pages::signin_with_sso(&csrf, &return_to, "", None, sso.as_deref()),
        ),
        set,
    )
}

/// `POST /auth/v1/signin` (form: email, password, csrf, return_to).
pub async fn signin_submit(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if let Err(resp) = check_csrf(&s, &headers, get("csrf")) {
        return resp;
    }
    let email = get("email").trim().to_string();
    let return_to = safe_return_to(get("return_to"));
    let (csrf, _) = csrf_token(&s, &headers);
    let sso = crate::sso::button(&s).await;
    let again = |status: StatusCode, msg: &str| {
        pages::html(
            status,
            pages::signin_with_sso(&csrf, &return_to, &email, Some(msg), sso.as_deref()),
        )
    };
    if email.is_empty() || get("password").is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            "Enter your email address and your password.",
        );
    }
    if !super::signin_allowed(&s, &email) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins for this email address; wait five minutes and try again.",
        );
    }
    let user = match web_auth::user_by_email(&s.store, &email).await {
        Ok(u) => u.filter(|u| u.status == UserStatus::Enabled),
        Err(e) => {
            tracing::error!(error = %e, "sign-in: user lookup failed");
            return again(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is temporarily unavailable; try again.",
            );
        }
    };
    let stored = match &user {
        Some(u) => web_auth::password_hash(&s.store, &u.id)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let pw = get("password").to_string();
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(h) => password::verify(&pw, &h),
        None => {
            password::verify_dummy(&pw);
            false
        }
    })
    .await
    .unwrap_or(false);
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            super::signin_result(&s, &email, false);
            tracing::info!("sign-in failed");
            return again(
                StatusCode::UNAUTHORIZED,
                "The email address or password is incorrect.",
            );
        }
    };
    super::signin_result(&s, &email, true);
    match open_session(&s, &user, "web:signin", None, &return_to).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "sign-in: creating the session failed");
            again(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is temporarily unavailable; try again.",
            )
        }
    }
}

/// Opens a session for `user` (every sign-in method ends here: password, single sign-on) and
/// sends the browser to `return_to` (already filtered by [`safe_return_to`]; empty: the
/// signed-in page). The session and, when given, `detail` (how the user signed in) are
/// recorded in the system log in one transaction, `actor_client_id` naming the method.
pub(crate) async fn open_session(
    s: &AppState,
    user: &User,
    actor_client_id: &str,
    detail: Option<serde_json::Value>,
    return_to: &str,
) -> Result<Response, chamberlain_store::StoreError> {
    let token = password::random_token(32);
    let digest = password::digest(&token);
    let ctx = AuditCtx {
        actor_user_id: user.id.clone(),
        actor_client_id: actor_client_id.into(),
        request_id: crate::error::current_request_id(),
    };
    let expires = Timestamp::now().plus_seconds(ABSOLUTE_SECS);
    let uid = user.id.clone();
    chamberlain_store::write_tx!(s.store, &ctx, |tx| {
        let id = web_auth::create_session(tx, &uid, &digest, expires).await?;
        if let Some(d) = &detail {
            tx.audit(
                chamberlain_store::Activity::Create,
                "web sign-in",
                &id,
                None,
                Some(d.clone()),
            )
            .await?;
        }
        Ok::<_, chamberlain_store::StoreError>(())
    })?;
    let dest = if return_to.is_empty() { "/" } else { return_to };
    Ok(with_cookie(
        see_other(dest),
        Some(set_cookie(s, session_cookie(s), &token, ABSOLUTE_SECS)),
    ))
}

/// `POST /auth/v1/signout` (form: csrf).
pub async fn signout(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    if let Err(resp) = check_csrf(
        &s,
        &headers,
        f.get("csrf").map(String::as_str).unwrap_or(""),
    ) {
        return resp;
    }
    if let Some((session, user)) = current(&s, &headers).await {
        let ctx = AuditCtx {
            actor_user_id: user.id.clone(),
            actor_client_id: "web:signout".into(),
            request_id: crate::error::current_request_id(),
        };
        if let Err(e) = chamberlain_store::write_tx!(s.store, &ctx, |tx| {
            web_auth::delete_session(tx, &session.id).await
        }) {
            tracing::error!(error = %e, "sign-out failed");
        }
    }
    with_cookie(
        pages::html(StatusCode::OK, pages::signed_out()),
        Some(set_cookie(&s, session_cookie(&s), "", 0)),
    )
}
