//! `c1.api.systemlog.v1.SystemLogService.ListEvents`: the audit trail as OCSF events.
//!
//! Beyond C1's fields, the request takes `objectId`, `objectType` and `actorUserId` filters
//! (documented extensions; C1 clients never send them).

use super::common::body_page;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::State;
use axum::Json;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::syslog::{self, EventQuery};
use serde::Deserialize;
use serde_json::{json, Value};

/// `SystemLogServiceListEventsRequest` plus Chamberlain's filters.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ListEventsRequest {
    page_size: Option<i64>,
    page_token: String,
    since: Option<Timestamp>,
    since_event_uid: String,
    sort_direction: Option<String>,
    until: Option<Timestamp>,
    until_event_uid: String,
    object_id: String,
    object_type: String,
    actor_user_id: String,
}

/// `POST /api/v1/systemlog/events`.
pub async fn list_events(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<ListEventsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    if !r.since_event_uid.is_empty() || !r.until_event_uid.is_empty() {
        return Err(ApiError::new(
            crate::error::Code::Unimplemented,
            "sinceEventUid/untilEventUid are not supported yet; use since/until",
        ));
    }
    let descending = match r.sort_direction.as_deref() {
        None | Some("SORT_DIRECTION_UNSPECIFIED") | Some("SORT_DIRECTION_ASC") => false,
        Some("SORT_DIRECTION_DESC") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "sortDirection `{other}` is not one of SORT_DIRECTION_ASC, SORT_DIRECTION_DESC"
            )))
        }
    };
    let mut page = body_page(r.page_size, &r.page_token)?;
    page.descending = descending;
    let q = EventQuery {
        since: r.since.map(|t| t.as_micros()),
        until: r.until.map(|t| t.as_micros()),
        object_id: (!r.object_id.is_empty()).then_some(r.object_id),
        object_kind: (!r.object_type.is_empty()).then_some(r.object_type),
        actor_user_id: (!r.actor_user_id.is_empty()).then_some(r.actor_user_id),
    };
    let events = syslog::list(&s.store, &q, &page).await?;
    Ok(Json(
        json!({"list": events.items, "nextPageToken": events.next_page_token}),
    ))
}
