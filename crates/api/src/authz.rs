//! Authorization rules, decided on the server from the caller's current roles and ownerships.
//!
//! - Super Admin: everything.
//! - App Admin: reads everything an admin reads; changes only apps they own (app owners), and
//!   the resource types, resources, entitlements, accounts and grants inside them.
//! - Read-Only Admin: reads everything, changes nothing.
//! - Basic User: their own user, their own accounts and API clients.

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, Caller};
use chamberlain_model::principal::Role;
use chamberlain_store::repo::owners::{self, OwnedKind};

/// Admin-level read access to the identity graph.
pub fn require_read(caller: &Caller) -> ApiResult<()> {
    if caller.principal.can_read_all() {
        Ok(())
    } else {
        Err(ApiError::denied(
            "this requires the Super Admin, App Admin or Read-Only Admin role",
        ))
    }
}

/// Tenant-wide changes (creating apps, users' roles, bindings across apps).
pub fn require_super_admin(caller: &Caller) -> ApiResult<()> {
    if caller.principal.is_super_admin() {
        Ok(())
    } else {
        Err(ApiError::denied("this requires the Super Admin role"))
    }
}

/// Changes inside one app: Super Admin, or App Admin who owns the app.
pub async fn require_app_write(state: &AppState, caller: &Caller, app_id: &str) -> ApiResult<()> {
    if caller.principal.is_super_admin() {
        return Ok(());
    }
    // A connector credential reaches here only on its own connector's upload paths (the
    // authentication layer refuses every other path).
    if caller
        .principal
        .connector
        .as_ref()
        .is_some_and(|c| c.app_id == app_id)
    {
        return Ok(());
    }
    if caller.principal.has(Role::AppAdmin)
        && owners::is_owner(&state.store, OwnedKind::App, app_id, caller.user_id()).await?
    {
        return Ok(());
    }
    if caller.principal.has(Role::AppAdmin) {
        return Err(ApiError::denied(format!(
            "App Admins may only change apps they own; you are not an owner of app `{app_id}`"
        )));
    }
    Err(ApiError::denied(
        "this requires the Super Admin role, or the App Admin role on an app you own",
    ))
}

/// Reading data about one user: admins, or the user themselves.
pub fn require_self_or_read(caller: &Caller, user_id: &str) -> ApiResult<()> {
    if caller.user_id() == user_id {
        return Ok(());
    }
    require_read(caller)
}

/// The only calls a connector credential may make: upload its connector's syncs and read its
/// sync runs.
pub fn connector_may_call(
    scope: &chamberlain_model::principal::ConnectorScope,
    method: &axum::http::Method,
    path: &str,
) -> bool {
    let base = format!(
        "/api/v1/apps/{}/connectors/{}",
        scope.app_id, scope.connector_id
    );
    let Some(rest) = path.strip_prefix(&base) else {
        return false;
    };
    matches!(
        (method.as_str(), rest),
        ("POST", "/c1z") | ("POST", "/file") | ("GET", "/sync_runs")
    )
}
