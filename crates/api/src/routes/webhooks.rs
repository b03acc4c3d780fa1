//! Webhooks (`c1.api.webhooks.v1.WebhooksService`, `WebhooksSearch`) and the public callback
//! URL receivers answer a 202 through (`POST /api/v1/webhooks/callback/{token}`).

use crate::authz;
use crate::error::{ApiError, ApiResult, Code};
use crate::extract::Body;
use crate::routes::common;
use crate::state::{Caller, Shared};
use crate::webhooks::{self as delivery, DeliveryError, MAX_REPLY_BYTES, TEST_EVENT};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chamberlain_model::webhook::{
    Webhook, DEFAULT_CALLBACK_TIMEOUT_SECS, MAX_CALLBACK_TIMEOUT_SECS, MIN_CALLBACK_TIMEOUT_SECS,
};
use chamberlain_model::{new_id, Duration, Timestamp};
use chamberlain_store::record;
use chamberlain_store::repo::webhooks::{self as repo, CallbackRefusal};
use chamberlain_store::{AuditCtx, Filter, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// Fields a client may set on a webhook.
const WRITABLE: &[&str] = &["displayName", "description", "url", "callbackTimeout"];

/// `c1.api.webhooks.v1.WebhooksServiceCreateRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateRequest {
    display_name: String,
    description: String,
    url: String,
    callback_timeout: Option<Duration>,
}

/// `c1.api.webhooks.v1.WebhooksServiceUpdateRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateRequest {
    webhook: Option<Value>,
    update_mask: Option<String>,
}

/// `c1.api.webhooks.v1.WebhooksSearchRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchRequest {
    query: String,
    refs: Vec<WebhookRef>,
    page_size: Option<i64>,
    page_token: String,
}

/// `c1.api.webhooks.v1.WebhookRef`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WebhookRef {
    id: String,
}

/// An empty request body (`DeleteRequest`, `TestRequest`).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Empty {}

/// Checks a webhook as a whole: a display name, a URL C1 would accept (see
/// [`delivery::check_url`]) and a callback timeout of 1 to 30 days.
pub fn validate(w: &Webhook, allow: &[String]) -> Result<(), String> {
    if w.display_name.trim().is_empty() {
        return Err("displayName is required".into());
    }
    delivery::check_url(&w.url, allow)?;
    if let Some(d) = w.callback_timeout {
        let too_long = d.seconds > MAX_CALLBACK_TIMEOUT_SECS
            || (d.seconds == MAX_CALLBACK_TIMEOUT_SECS && d.nanos > 0);
        if d.seconds < MIN_CALLBACK_TIMEOUT_SECS || too_long {
            return Err(format!(
                "callbackTimeout `{d}` must be between 1 day (\"{MIN_CALLBACK_TIMEOUT_SECS}s\") and 30 days (\"{MAX_CALLBACK_TIMEOUT_SECS}s\")"
            ));
        }
    }
    Ok(())
}

/// `POST /api/v1/webhooks`.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let now = Timestamp::now();
    let w = Webhook {
        id: new_id(),
        display_name: r.display_name.trim().to_string(),
        description: r.description,
        url: r.url.trim().to_string(),
        callback_timeout: Some(
            r.callback_timeout
                .unwrap_or(Duration::from_secs(DEFAULT_CALLBACK_TIMEOUT_SECS)),
        ),
        created_at: Some(now),
        updated_at: Some(now),
        deleted_at: None,
    };
    validate(&w, &s.jobs.webhook_allow_hosts).map_err(ApiError::invalid)?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| { tx.create(&w).await })?;
    Ok(Json(json!({ "webhook": w })))
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let w: Webhook = common::load(&s, "id", &id).await?;
    Ok(Json(json!({ "webhook": w })))
}

/// `GET /api/v1/webhooks`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    paging: crate::extract::Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let page =
        record::list::<Webhook, _>(s.store.pool(), &[], false, &common::page_req(&paging)).await?;
    Ok(Json(
        json!({"list": page.items, "nextPageToken": page.next_page_token}),
    ))
}

/// `POST /api/v1/search/webhooks`: `query` matches names and descriptions (case-insensitive
/// substring), `refs` restricts to those ids.
pub async fn search(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let mut filters = Vec::new();
    if !r.query.is_empty() {
        filters.push(Filter::Contains(
            vec!["name_lc", "description_lc"],
            r.query.to_lowercase(),
        ));
    }
    if !r.refs.is_empty() {
        filters.push(Filter::In(
            "id",
            r.refs.iter().map(|x| x.id.clone()).collect(),
        ));
    }
    let page = common::body_page(r.page_size, &r.page_token)?;
    let page = record::list::<Webhook, _>(s.store.pool(), &filters, false, &page).await?;
    Ok(Json(
        json!({"list": page.items, "nextPageToken": page.next_page_token}),
    ))
}

/// `POST /api/v1/webhooks/{id}`: updates the fields in `updateMask` (all writable fields
/// present when absent) and validates the result as a whole.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    common::check_id("id", &id)?;
    let patch = r.webhook.ok_or_else(|| {
        ApiError::invalid(
            "`webhook` is required: send {\"webhook\": {...}, \"updateMask\": \"displayName,url\"}",
        )
    })?;
    let typed: Webhook = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `webhook`: {e}")))?;
    if !typed.id.is_empty() && typed.id != id {
        return Err(ApiError::invalid(format!(
            "webhook.id `{}` does not match the id in the path `{id}`",
            typed.id
        )));
    }
    let before: Webhook = common::load(&s, "id", &id).await?;
    let (mut after, _) =
        chamberlain_model::mask::apply_typed(&before, &patch, r.update_mask.as_deref(), WRITABLE)
            .map_err(ApiError::invalid)?;
    after.display_name = after.display_name.trim().to_string();
    after.url = after.url.trim().to_string();
    if after.callback_timeout.is_none() {
        after.callback_timeout = Some(Duration::from_secs(DEFAULT_CALLBACK_TIMEOUT_SECS));
    }
    after.updated_at = Some(Timestamp::now());
    validate(&after, &s.jobs.webhook_allow_hosts).map_err(ApiError::invalid)?;
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current: Webhook = tx.must_get(&id).await?;
        if current.updated_at != before.updated_at {
            return Err(StoreError::Stale(format!("webhook {id} changed meanwhile")));
        }
        tx.replace(&current, &after).await?;
        Ok(after.clone())
    })?;
    Ok(Json(json!({ "webhook": after })))
}

/// `DELETE /api/v1/webhooks/{id}`. Deliveries not yet sent fail ("webhook was deleted").
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    common::load::<Webhook>(&s, "id", &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<Webhook>(&id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}

/// `POST /api/v1/webhooks/{id}/test`: sends `c1.webhooks.v1.PayloadTest` now, once, and
/// answers with the delivery (`WebhookInstance`): `WEBHOOK_STATE_SUCCESS` with the reply,
/// `WEBHOOK_STATE_WAITING_CALLBACK` after a 202, or `WEBHOOK_STATE_FATAL_ERROR` with
/// `lastError`.
pub async fn test(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let w: Webhook = common::load(&s, "id", &id).await?;
    let d = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        repo::insert_delivery(tx, &w.id, TEST_EVENT, &w.id, &json!({})).await
    })?;
    delivery::attempt(&s, &d.id, true).await?;
    let d = repo::delivery(&s.store, &d.id).await?;
    if d.state == repo::WAITING_CALLBACK {
        // A 202: the worker ends the delivery if no callback comes before the timeout.
        let at = d.callback_expires_at.unwrap_or_else(Timestamp::now);
        chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
            repo::enqueue_job(tx, &d.id, at).await
        })?;
    }
    Ok(Json(json!({ "webhook": delivery::instance(&d) })))
}

fn gone(message: String) -> ApiError {
    ApiError {
        code: Code::FailedPrecondition,
        message,
        http: Some(StatusCode::GONE),
    }
}

/// `POST /api/v1/webhooks/callback/{token}` (public: the token is the credential). Takes the
/// reply of a delivery answered with 202, once; the body must be a `{"version":"v1", …}`
/// document of at most 250 KB.
pub async fn callback(
    State(s): State<Shared>,
    Path(token): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if token.len() < 20 || token.len() > 100 {
        return Err(ApiError::not_found(
            "this callback URL is not known; use the callbackUrl of the delivery exactly as sent",
        ));
    }
    if body.len() > MAX_REPLY_BYTES {
        return Err(ApiError {
            code: Code::ResourceExhausted,
            message: "callback body is larger than 250 KB".into(),
            http: Some(StatusCode::PAYLOAD_TOO_LARGE),
        });
    }
    let reply = delivery::parse_reply(&body).map_err(|e| match e {
        DeliveryError::Fatal(m) | DeliveryError::Retry(m) => {
            ApiError::invalid(m.replacen("reply", "callback body", 1))
        }
        DeliveryError::Gone => ApiError::invalid("callback body was refused"),
    })?;
    let ctx = AuditCtx {
        actor_user_id: String::new(),
        actor_client_id: "webhook-callback".into(),
        request_id: crate::error::current_request_id(),
    };
    match repo::complete_callback(&s.store, &ctx, &delivery::token_hash(&token), &reply).await? {
        Ok(d) => Ok(Json(json!({ "webhook": delivery::instance(&d) }))),
        Err(CallbackRefusal::Unknown) => Err(ApiError::not_found(
            "this callback URL is not known (a later attempt of the delivery may have replaced it)",
        )),
        Err(CallbackRefusal::Used) => Err(gone(
            "this callback URL was already used; a callback URL takes one reply".into(),
        )),
        Err(CallbackRefusal::Expired) => Err(gone(
            "this callback URL has expired (the webhook's callbackTimeout passed)".into(),
        )),
    }
}
