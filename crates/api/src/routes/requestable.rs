//! Who may request what: an entitlement is requestable through a published access profile the
//! requester can see, or, when it is in no profile at all, by everyone (C1's default audience).

use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use chamberlain_store::repo::catalogs::{self, Requestability};

/// Refuses a request for an entitlement the user cannot see, naming why.
pub async fn check(s: &Shared, user_id: &str, app_id: &str, entitlement_id: &str) -> ApiResult<()> {
    let mut conn = s
        .store
        .pool()
        .acquire()
        .await
        .map_err(chamberlain_store::StoreError::from)?;
    match catalogs::requestable_via(&mut conn, user_id, app_id, entitlement_id).await? {
        Requestability::Catalog(_) | Requestability::Open => Ok(()),
        Requestability::Hidden => Err(ApiError::denied(format!(
            "entitlement `{entitlement_id}` is not requestable by user `{user_id}`: it is offered only in access profiles this user cannot see (unpublished, or visible only to holders of other entitlements)"
        ))),
    }
}
