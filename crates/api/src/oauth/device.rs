//! The OAuth 2.0 device authorization grant (RFC 8628) for the command-line client.
//!
//! - `POST /auth/v1/device_authorization` (form: `client_id`, optional `scope`): a device code
//!   (random, stored as its SHA-256), a user code (8 letters from [`USER_CODE_ALPHABET`], shown
//!   as `XXXX-XXXX`), the verification URIs, [`EXPIRES_SECS`] and [`INTERVAL_SECS`].
//! - `GET/POST /auth/v1/device`: the page where a user signed in through the browser session
//!   types (or confirms) the code and approves or denies; the decision is written to the system
//!   log in the same transaction.
//! - `grant_type=urn:ietf:params:oauth:grant-type:device_code` at `/auth/v1/token`
//!   ([`device_code_grant`]): `authorization_pending`, `slow_down` (the interval grows by 5 s),
//!   `access_denied`, `expired_token`, `invalid_grant`; an approved code is redeemed once, for
//!   an API access token of the approving user (the same short-lived token as client
//!   credentials give, issued to the client id [`CLI_CLIENT_ID`]).
//!
//! The only client is the built-in public client [`CLI_CLIENT_ID`] (no secret, like any
//! native app); its tokens are resolved against the user alone (`crate::state`).

use super::{grants, pages, session};
use crate::state::{AppState, Shared};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chamberlain_auth::password;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::device as repo;
use chamberlain_store::AuditCtx;
use rand::Rng;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The grant type of the token request.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The built-in public client of `chamberlain login`.
pub const CLI_CLIENT_ID: &str = "chamberlain-cli";
/// Its name on the approval page.
pub const CLI_CLIENT_NAME: &str = "Chamberlain command-line client";
/// The only scope (the public API); an empty scope means the same.
pub const SCOPE: &str = "api";
/// Lifetime of a device code / user code pair.
pub const EXPIRES_SECS: i64 = 600;
/// Minimum polling interval (seconds) at the start.
pub const INTERVAL_SECS: i64 = 5;
/// How much `slow_down` adds to the interval.
pub const SLOW_DOWN_SECS: i64 = 5;
/// Consonants only, no vowels (no words), no look-alikes of digits.
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code.
pub const USER_CODE_LEN: usize = 8;
/// Expired authorizations are kept this long so a late poll hears `expired_token`.
pub const KEEP_EXPIRED_SECS: i64 = 86_400;

/// Unknown codes a user may enter per window on each replica (guessing protection).
const MAX_BAD_CODES: u32 = 10;
const BAD_CODE_WINDOW: Duration = Duration::from_secs(300);
type BadCodes = HashMap<(String, String), (Instant, u32)>;
static BAD_CODES: Mutex<Option<BadCodes>> = Mutex::new(None);

fn may_try_code(state: &AppState, user_id: &str) -> bool {
    let Ok(mut guard) = BAD_CODES.lock() else {
        return true;
    };
    let map = guard.get_or_insert_with(HashMap::new);
    map.retain(|_, (at, _)| at.elapsed() < BAD_CODE_WINDOW);
    map.get(&(state.public_url.clone(), user_id.to_string()))
        .is_none_or(|(_, n)| *n < MAX_BAD_CODES)
}

fn bad_code(state: &AppState, user_id: &str) {
    if let Ok(mut guard) = BAD_CODES.lock() {
        let e = guard
            .get_or_insert_with(HashMap::new)
            .entry((state.public_url.clone(), user_id.to_string()))
            .or_insert((Instant::now(), 0));
        e.1 += 1;
    }
}

/// A new random user code (normalized form, no dash).
pub fn new_user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..USER_CODE_LEN)
        .map(|_| USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect()
}

/// `XXXX-XXXX`.
pub fn display_user_code(code: &str) -> String {
    if code.len() == USER_CODE_LEN {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

/// The normalized form of what a user typed: upper case, without dashes and spaces; `None`
/// when it cannot be a user code.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The verification URI.
pub fn verification_uri(state: &AppState) -> String {
    format!("{}/auth/v1/device", super::issuer(state))
}

/// `POST /auth/v1/device_authorization`.
pub async fn device_authorization(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = session::form(&body);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("basic "));
    let client_id = f.get("client_id").map(String::as_str).unwrap_or("");
    if client_id.is_empty() && !basic {
        return grants::error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("client_id is required (the command-line client is `{CLI_CLIENT_ID}`)"),
        );
    }
    if client_id != CLI_CLIENT_ID {
        return grants::error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!("the device authorization grant is offered only to the public client `{CLI_CLIENT_ID}` (the command-line client)"),
        );
    }
    let scope = f.get("scope").map(|v| v.trim()).unwrap_or("");
    if !scope.is_empty() && scope.split(' ').any(|x| x != SCOPE) {
        return grants::error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("scope `{scope}` is not offered; leave it out or send `{SCOPE}`"),
        );
    }
    // The endpoint needs no credential, so what it may store is bounded.
    match repo::live_pending(&s.store).await {
        Ok(n) if n >= s.jobs.device_pending_max => {
            tracing::warn!(
                pending = n,
                "device authorization refused: too many waiting"
            );
            return grants::error(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                format!(
                    "{n} sign-ins are already waiting for approval; try again in a few minutes"
                ),
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "counting device authorizations failed");
            return grants::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the device authorization could not be recorded; retry",
            );
        }
    }
    let device_code = password::random_token(32);
    let hash = password::digest(&device_code);
    let ctx = AuditCtx {
        actor_user_id: String::new(),
        actor_client_id: CLI_CLIENT_ID.into(),
        request_id: crate::error::current_request_id(),
    };
    let expires = Timestamp::now().plus_seconds(EXPIRES_SECS);
    let created = chamberlain_store::write_tx!(s.store, &ctx, |tx| {
        let mut code = new_user_code();
        let mut tries = 0;
        while repo::user_code_in_use(tx, &code).await? {
            tries += 1;
            if tries > 8 {
                return Err(chamberlain_store::StoreError::Precondition(
                    "no free user code".into(),
                ));
            }
            code = new_user_code();
        }
        repo::insert(
            tx,
            &hash,
            &code,
            CLI_CLIENT_ID,
            SCOPE,
            INTERVAL_SECS,
            expires,
        )
        .await?;
        Ok(code)
    });
    let user_code = match created {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "device authorization failed");
            return grants::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the device authorization could not be recorded; retry",
            );
        }
    };
    let shown = display_user_code(&user_code);
    let uri = verification_uri(&s);
    let mut complete = reqwest::Url::parse(&uri).expect("the public URL is a URL");
    complete.query_pairs_mut().append_pair("user_code", &shown);
    no_store(
        Json(json!({
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": uri,
            "verification_uri_complete": complete.as_str(),
            "expires_in": EXPIRES_SECS,
            "interval": INTERVAL_SECS,
        }))
        .into_response(),
    )
}

enum Poll {
    Issue(String),
    Error(&'static str, String),
    SlowDown(i64),
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4, §3.5).
pub async fn device_code_grant(state: &AppState, client_id: &str, device_code: &str) -> Response {
    if client_id.is_empty() {
        return grants::error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id is required",
        );
    }
    if client_id != CLI_CLIENT_ID {
        return grants::error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!("the device code grant is offered only to the public client `{CLI_CLIENT_ID}`"),
        );
    }
    if device_code.is_empty() {
        return grants::error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("device_code is required for grant_type={GRANT_TYPE}"),
        );
    }
    let hash = password::digest(device_code);
    let ctx = AuditCtx {
        actor_user_id: String::new(),
        actor_client_id: CLI_CLIENT_ID.into(),
        request_id: crate::error::current_request_id(),
    };
    let outcome = chamberlain_store::write_tx!(state.store, &ctx, |tx| {
        let Some(a) = repo::by_device_code(tx, &hash).await? else {
            return Ok(Poll::Error(
                "invalid_grant",
                "the device code is not valid (unknown, or removed long after it expired); run `chamberlain login` again".into(),
            ));
        };
        if a.client_id != client_id {
            return Ok(Poll::Error(
                "invalid_grant",
                "the device code was issued to another client".into(),
            ));
        }
        if a.status == repo::REDEEMED {
            return Ok(Poll::Error(
                "invalid_grant",
                "the device code was already used; run `chamberlain login` again".into(),
            ));
        }
        let now = tx.now().as_micros();
        if a.expires_at <= now {
            return Ok(Poll::Error(
                "expired_token",
                format!("the device code has expired (codes are valid for {EXPIRES_SECS} s); run `chamberlain login` again"),
            ));
        }
        match a.status.as_str() {
            repo::DENIED => Ok(Poll::Error(
                "access_denied",
                "the sign-in was denied in the browser".into(),
            )),
            repo::APPROVED => {
                let user = a.user_id.clone().unwrap_or_default();
                if user.is_empty() || !repo::redeem(tx, &a.id).await? {
                    return Ok(Poll::Error(
                        "invalid_grant",
                        "the device code was already used; run `chamberlain login` again".into(),
                    ));
                }
                Ok(Poll::Issue(user))
            }
            _ => {
                // Polling faster than the interval (a little slack for network jitter).
                let too_fast = a
                    .last_polled_at
                    .is_some_and(|last| now - last < a.interval_secs * 1_000_000 - 500_000);
                if too_fast {
                    let interval = a.interval_secs + SLOW_DOWN_SECS;
                    repo::polled(tx, &a.id, interval).await?;
                    return Ok(Poll::SlowDown(interval));
                }
                repo::polled(tx, &a.id, a.interval_secs).await?;
                Ok(Poll::Error(
                    "authorization_pending",
                    "waiting for the user to approve the code in the browser".into(),
                ))
            }
        }
    });
    match outcome {
        Ok(Poll::Issue(user_id)) => {
            if let Err(e) = crate::state::resolve_principal(state, &user_id, CLI_CLIENT_ID).await {
                return grants::error(StatusCode::BAD_REQUEST, "invalid_grant", e.message);
            }
            let now = Timestamp::now().unix_seconds();
            let (token, expires_in) = state.issuer.issue(&user_id, CLI_CLIENT_ID, now);
            let mut resp = Json(json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": SCOPE,
            }))
            .into_response();
            resp.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            no_store(resp)
        }
        Ok(Poll::SlowDown(interval)) => {
            let mut resp = grants::error(
                StatusCode::BAD_REQUEST,
                "slow_down",
                format!("polling too fast; wait at least {interval} s between requests"),
            );
            if let Ok(v) = HeaderValue::from_str(&interval.to_string()) {
                resp.headers_mut().insert("x-poll-interval", v);
            }
            resp
        }
        Ok(Poll::Error(code, message)) => grants::error(StatusCode::BAD_REQUEST, code, message),
        Err(e) => {
            tracing::error!(error = %e, "device code grant failed");
            grants::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the token could not be issued; retry",
            )
        }
    }
}

fn return_to(code: &str) -> String {
    if code.is_empty() {
        "/auth/v1/device".into()
    } else {
        let mut u = reqwest::Url::parse("http://x/auth/v1/device").expect("static URL");
        u.query_pairs_mut().append_pair("user_code", code);
        format!("/auth/v1/device?{}", u.query().unwrap_or(""))
    }
}

/// Looks a typed code up for `user`: the pending authorization, or the page explaining why not.
async fn lookup(
    state: &AppState,
    user: &chamberlain_model::user::User,
    typed: &str,
) -> Result<repo::DeviceAuthorization, Response> {
    let again = |status: StatusCode, msg: &str| {
        pages::html(status, pages::device_entry(&user.email, typed, Some(msg)))
    };
    if !may_try_code(state, &user.id) {
        return Err(again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong codes; wait five minutes and try again.",
        ));
    }
    let Some(code) = normalize_user_code(typed) else {
        bad_code(state, &user.id);
        return Err(again(
            StatusCode::BAD_REQUEST,
            "That is not a device code: codes have eight letters, like BCDF-GHJK. Check the code your terminal shows.",
        ));
    };
    match repo::pending_by_user_code(&state.store, &code).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => {
            bad_code(state, &user.id);
            Err(again(
                StatusCode::NOT_FOUND,
                "This code is not valid: it may have expired (codes last 10 minutes), been used or decided already, or been mistyped. Run `chamberlain login` again for a new code.",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "device code lookup failed");
            Err(again(
                StatusCode::SERVICE_UNAVAILABLE,
                "The code could not be checked; try again.",
            ))
        }
    }
}

/// `GET /auth/v1/device[?user_code=…]`.
pub async fn page(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let q: HashMap<String, String> = crate::extract::url_pairs(&q.unwrap_or_default())
        .into_iter()
        .collect();
    let typed: String = q
        .get("user_code")
        .map(|c| c.trim().chars().take(32).collect())
        .unwrap_or_default();
    let Some((_, user)) = session::current(&s, &headers).await else {
        return session::signin_redirect(&return_to(&typed));
    };
    if typed.is_empty() {
        return pages::html(StatusCode::OK, pages::device_entry(&user.email, "", None));
    }
    let a = match lookup(&s, &user, &typed).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let (csrf, set) = session::csrf_token(&s, &headers);
    session::with_cookie(
        pages::html(
            StatusCode::OK,
            pages::device_confirm(
                &csrf,
                &user.email,
                CLI_CLIENT_NAME,
                &a.client_id,
                &display_user_code(&a.user_code),
            ),
        ),
        set,
    )
}

/// `POST /auth/v1/device` (form: csrf, user_code, decision = approve | deny).
pub async fn decide(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let f = session::form(&body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if let Err(resp) = session::check_csrf(&s, &headers, get("csrf")) {
        return resp;
    }
    let typed = get("user_code").trim().to_string();
    let Some((_, user)) = session::current(&s, &headers).await else {
        return session::signin_redirect(&return_to(&typed));
    };
    let approve = match get("decision") {
        "approve" => true,
        "deny" => false,
        _ => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Device sign-in",
                "Answer the request with Approve or Deny.",
            )
        }
    };
    let a = match lookup(&s, &user, &typed).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let ctx = AuditCtx {
        actor_user_id: user.id.clone(),
        actor_client_id: "web:device".into(),
        request_id: crate::error::current_request_id(),
    };
    let uid = user.id.clone();
    let decided = chamberlain_store::write_tx!(s.store, &ctx, |tx| {
        repo::decide(tx, &a.user_code, &uid, approve).await
    });
    match decided {
        Ok(Some(_)) => pages::html(StatusCode::OK, pages::device_done(approve)),
        Ok(None) => pages::html(
            StatusCode::CONFLICT,
            pages::device_entry(
                &user.email,
                &typed,
                Some("This code was decided meanwhile or has expired; run `chamberlain login` again for a new code."),
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "device decision failed");
            pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Device sign-in",
                "The decision could not be recorded; try again.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_unambiguous_and_normalized() {
        for _ in 0..100 {
            let c = new_user_code();
            assert_eq!(c.len(), 8);
            assert_eq!(normalize_user_code(&display_user_code(&c)), Some(c.clone()));
            assert_eq!(
                normalize_user_code(&display_user_code(&c).to_lowercase()),
                Some(c)
            );
        }
        assert_eq!(
            normalize_user_code(" bcdf-ghjk "),
            Some("BCDFGHJK".to_string())
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None, "too short");
        assert_eq!(
            normalize_user_code("BCDF-GHJA"),
            None,
            "vowels are not used"
        );
        assert_eq!(
            normalize_user_code("BCDF-GHJ0"),
            None,
            "digits are not used"
        );
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
    }
}
