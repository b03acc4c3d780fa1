//! The pages every employee has: the request catalog and form, my requests, my access, tasks
//! (approvals) and AI & API.

mod access;
mod ai;
mod catalog;
mod mine;
mod tasks;

use crate::api::enc;
use crate::Web;
use axum::routing::{get, post};
use axum::Router;
use chamberlain_model::user::User;
use std::collections::HashMap;

pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/requests", get(catalog::page))
        .route("/requests/new", get(catalog::form).post(catalog::submit))
        .route("/requests/mine", get(mine::page))
        .route("/requests/{id}", get(mine::detail))
        .route("/requests/{id}/cancel", post(mine::cancel))
        .route("/access", get(access::page))
        .route("/access/give-back", post(access::give_back))
        .route("/tasks", get(tasks::page))
        .route("/tasks/{id}/act", post(tasks::act))
        .route("/ai-api", get(ai::page))
        .route("/ai-api/clients/{id}/revoke", post(ai::revoke_client))
        .route(
            "/ai-api/connections/{connector_id}/disconnect",
            post(ai::disconnect),
        )
        .route("/ai-api/api-clients", post(ai::create_api_client))
        .route(
            "/ai-api/api-clients/{id}/delete",
            post(ai::delete_api_client),
        )
}

/// The first value of `key` in a raw query string.
pub(crate) fn query(q: &Option<String>, key: &str) -> String {
    q.as_deref()
        .map(chamberlain_api::extract::url_pairs)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Display names of users, for showing who approved or must act. Read from the store because
/// a requester may not read other users through the API, yet is entitled to know who decides
/// their request; only the name (or email) leaves this function.
pub(crate) async fn user_names(w: &Web, ids: &[String]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for id in ids {
        if id.is_empty() || out.contains_key(id) {
            continue;
        }
        if let Ok(Some(u)) =
            chamberlain_store::record::get::<User, _>(w.shared.store.pool(), id, true).await
        {
            let n = if u.display_name.is_empty() {
                u.email
            } else {
                u.display_name
            };
            out.insert(id.clone(), n);
        }
    }
    out
}

/// `/requests/new?app=…&entitlement=…`.
pub(crate) fn request_href(app_id: &str, entitlement_id: &str) -> String {
    format!(
        "/requests/new?app={}&entitlement={}",
        enc(app_id),
        enc(entitlement_id)
    )
}
