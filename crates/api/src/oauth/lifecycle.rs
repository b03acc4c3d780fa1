//! The AI-client lifecycle, run by the worker's access housekeeping: authorizations unused for
//! the settings' `defaultClientLifecycle` durations go ACTIVE → HIDDEN → CLOSED (refresh tokens
//! revoked, access tokens refused) → DELETED; expired codes, refresh tokens, sign-in sessions
//! and device authorizations are removed. A user's next successful authorization makes a
//! client ACTIVE again.

use crate::state::AppState;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::{device, oauth as repo, web_auth};
use chamberlain_store::{Activity, AuditCtx, StoreError};
use serde_json::json;

/// Authorizations moved per step and run.
const BATCH: i64 = 500;
/// Used or revoked codes and refresh tokens are kept this long so a replay is still
/// recognised (and revokes its family).
const KEEP_USED_SECS: i64 = 7 * 86_400;

/// One sweep; returns how many authorizations changed state.
pub async fn sweep(state: &AppState) -> Result<usize, StoreError> {
    let settings = chamberlain_store::repo::ai_governance::load(&state.store).await?;
    let (hide, close, delete) = settings.lifecycle().seconds();
    let now = Timestamp::now();
    let ctx = AuditCtx::system("ai-client-lifecycle");
    let mut changed = 0;
    for (after, from, to) in [
        (
            delete,
            &[repo::ACTIVE, repo::HIDDEN, repo::CLOSED][..],
            repo::DELETED,
        ),
        (close, &[repo::ACTIVE, repo::HIDDEN][..], repo::CLOSED),
        (hide, &[repo::ACTIVE][..], repo::HIDDEN),
    ] {
        if after <= 0 {
            continue;
        }
        let due =
            repo::due_for_lifecycle(&state.store, from, now.plus_seconds(-after), BATCH).await?;
        if due.is_empty() {
            continue;
        }
        chamberlain_store::write_tx!(state.store, &ctx, |tx| {
            for a in &due {
                repo::set_state(tx, a, to).await?;
            }
            Ok(())
        })?;
        changed += due.len();
    }
    let (codes, refresh, sessions) = chamberlain_store::write_tx!(state.store, &ctx, |tx| {
        let (c, r) = repo::purge_expired(tx, KEEP_USED_SECS * 1_000_000).await?;
        let s = web_auth::purge_sessions(tx, super::session::IDLE_SECS * 1_000_000).await?;
        let d = device::purge_expired(tx, super::device::KEEP_EXPIRED_SECS * 1_000_000).await?;
        if c + r + s + d > 0 {
            tx.audit(
                Activity::Delete,
                "expired oauth credentials",
                "sweep",
                None,
                Some(json!({"authorizationCodes": c, "refreshTokens": r, "webSessions": s, "deviceAuthorizations": d})),
            )
            .await?;
        }
        Ok((c, r, s))
    })?;
    if changed > 0 || codes + refresh + sessions > 0 {
        tracing::info!(
            changed,
            codes,
            refresh,
            sessions,
            "AI client lifecycle sweep"
        );
    }
    Ok(changed)
}
