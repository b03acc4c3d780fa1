//! Tasks (`c1.api.task.v1`): grant and revoke requests, their actions, search and history.
//! The engine (`chamberlain_access::engine`) decides; this module checks who may ask, maps
//! C1's request shapes and renders `TaskView`s.

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::routes::{common, connectors};
use crate::state::{AppState, Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_access::engine::{
    allowed_actions, involved, Action, Actor, Change, Engine, EngineError, GrantRequest,
    Provisioner, RevokeRequest,
};
use chamberlain_model::task::{Task, TaskOrigin};
use chamberlain_model::{Duration, Timestamp};
use chamberlain_store::record::PageReq;
use chamberlain_store::repo::catalogs;
use chamberlain_store::repo::tasks::{self, TaskQuery};
use chamberlain_sync::baton::Provision;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Provisioning through the apps' Baton connectors.
pub struct ConnectorProvisioner(pub Shared);

impl Provisioner for ConnectorProvisioner {
    fn automatic<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            connectors::provisioning_connector(&self.0, app_id)
                .await
                .map(|c| c.is_some())
                .map_err(|e| e.message)
        })
    }

    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let s: &AppState = &self.0;
            let Some((c, cfg)) = connectors::provisioning_connector(s, &change.app_id)
                .await
                .map_err(|e| e.message)?
            else {
                return Err("the app no longer has a connector that provisions".into());
            };
            let Some((ent_ext, user_ext)) = connectors::baton_ids(
                s,
                &change.app_id,
                &change.entitlement_id,
                &change.app_user_id,
            )
            .await
            .map_err(|e| e.message)?
            else {
                return Err("the entitlement or the account did not come from the connector, so the connector cannot change it".into());
            };
            let action = if change.grant {
                let (principal_type, principal) = connectors::principal_parts(&user_ext);
                Provision::Grant {
                    entitlement: ent_ext,
                    principal,
                    principal_type,
                }
            } else {
                Provision::Revoke {
                    grant: format!("{ent_ext}:{user_ext}"),
                }
            };
            connectors::provision(s, &c, &cfg, &action)
                .await
                .map_err(|e| e.message)
        })
    }
}

/// The engine over this server's store and connectors.
pub fn engine(s: &Shared) -> Engine {
    Engine::new(s.store.clone(), Arc::new(ConnectorProvisioner(s.clone())))
}

/// The caller as the engine sees them.
pub fn actor(caller: &Caller) -> Actor {
    Actor {
        user_id: caller.principal.user_id.clone(),
        super_admin: caller.principal.is_super_admin(),
        audit: caller.audit(),
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(m) => ApiError::invalid(m),
            EngineError::NotFound(m) => ApiError::not_found(m),
            EngineError::Forbidden(m) => ApiError::denied(m),
            EngineError::Precondition(m) => ApiError::precondition(m),
            EngineError::Store(e) => e.into(),
        }
    }
}

/// `TaskView` for `task` as `caller` sees it.
pub fn view(task: Task, caller: &Caller) -> Value {
    let mut task = task;
    task.actions = allowed_actions(
        &task,
        &caller.principal.user_id,
        caller.principal.is_super_admin(),
    );
    json!({ "task": task })
}

fn respond(task: Task, caller: &Caller) -> Json<Value> {
    Json(json!({"taskView": view(task, caller), "expanded": [], "ticketActionId": ""}))
}

fn may_see(task: &Task, caller: &Caller) -> bool {
    caller.principal.can_read_all() || involved(task, &caller.principal.user_id)
}

/// `c1.api.task.v1.TaskServiceCreateGrantRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateGrantRequest {
    app_id: String,
    app_entitlement_id: String,
    app_user_id: String,
    identity_user_id: String,
    description: String,
    emergency_access: bool,
    grant_duration: Option<Duration>,
    expand_mask: Option<Value>,
    request_data: Option<Value>,
    source: Option<Value>,
}

/// `c1.api.task.v1.TaskServiceCreateRevokeRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateRevokeRequest {
    app_id: String,
    app_entitlement_id: String,
    app_user_id: String,
    identity_user_id: String,
    description: String,
    expand_mask: Option<Value>,
}

fn require(field: &str, v: &str) -> ApiResult<()> {
    if v.trim().is_empty() {
        return Err(ApiError::invalid(format!("`{field}` is required")));
    }
    Ok(())
}

/// Whose access a caller may request: their own; admins anyone's.
async fn subject_allowed(
    s: &Shared,
    caller: &Caller,
    app_id: &str,
    app_user_id: &str,
    identity_user_id: &str,
) -> ApiResult<String> {
    let me = caller.principal.user_id.clone();
    let subject = if !identity_user_id.is_empty() {
        identity_user_id.to_string()
    } else if !app_user_id.is_empty() {
        common::app_user(s, app_id, app_user_id)
            .await?
            .identity_user_id
    } else {
        me.clone()
    };
    if subject != me && !caller.principal.is_super_admin() {
        return Err(ApiError::denied(
            "you may request or revoke access only for yourself; a super admin may act for others",
        ));
    }
    Ok(subject)
}

/// A request for access as the channels (web, API, Slack) hand it over.
#[derive(Clone, Debug, Default)]
pub struct AccessRequest {
    pub app_id: String,
    pub entitlement_id: String,
    pub app_user_id: String,
    pub identity_user_id: String,
    pub justification: String,
    pub duration: Option<Duration>,
    pub emergency: bool,
}

impl From<CreateGrantRequest> for AccessRequest {
    /// The request body of `POST /api/v1/task/grant` (and its preview); `expandMask`,
    /// `requestData` and `source` are accepted and not used.
    fn from(r: CreateGrantRequest) -> Self {
        let _ = (&r.expand_mask, &r.request_data, &r.source);
        AccessRequest {
            app_id: r.app_id,
            entitlement_id: r.app_entitlement_id,
            app_user_id: r.app_user_id,
            identity_user_id: r.identity_user_id,
            justification: r.description,
            duration: r.grant_duration,
            emergency: r.emergency_access,
        }
    }
}

/// Requests access for `caller` (or, for a super admin, someone else) with the same checks and
/// policy whatever the channel: who may be the subject, whether the entitlement is requestable
/// by them, then the engine. The same request while one is open returns the open task.
pub async fn request_access(
    s: &Shared,
    caller: &Caller,
    r: AccessRequest,
    origin: TaskOrigin,
) -> ApiResult<Task> {
    let req = checked_request(s, caller, r, origin).await?;
    Ok(engine(s).create_grant(&actor(caller), req).await?)
}

/// The engine's request after the checks every channel shares (see [`request_access`]).
async fn checked_request(
    s: &Shared,
    caller: &Caller,
    r: AccessRequest,
    origin: TaskOrigin,
) -> ApiResult<GrantRequest> {
    require("appId", &r.app_id)?;
    require("appEntitlementId", &r.entitlement_id)?;
    let subject =
        subject_allowed(s, caller, &r.app_id, &r.app_user_id, &r.identity_user_id).await?;
    crate::routes::requestable::check(s, &subject, &r.app_id, &r.entitlement_id).await?;
    if r.app_id == catalogs::BUILTIN_APP_ID
        && r.app_user_id.is_empty()
        && !catalogs::has_local_account(s.store.pool(), &r.app_id, &subject).await?
    {
        // Profile membership: the user's account in the built-in app is made on first use.
        let user = subject.clone();
        chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
            catalogs::ensure_builtin_account(tx, &user).await
        })?;
    }
    Ok(GrantRequest {
        app_id: r.app_id,
        entitlement_id: r.entitlement_id,
        app_user_id: r.app_user_id,
        identity_user_id: if r.identity_user_id.is_empty() {
            subject
        } else {
            r.identity_user_id
        },
        justification: r.justification,
        duration: r.duration,
        emergency: r.emergency,
        origin,
        steps_override: None,
        ..Default::default()
    })
}

/// `POST /api/v1/task/grant/preview` (extension): what a request with this body would go
/// through if submitted now (the policy, its steps in words, the grant's length, whether
/// emergency access is offered), with the same checks as submitting; nothing is opened.
pub async fn preview_grant(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreateGrantRequest>,
) -> ApiResult<Json<Value>> {
    let req = checked_request(&s, &caller, AccessRequest::from(r), TaskOrigin::Api).await?;
    let p = engine(&s).preview_grant(req).await?;
    let mut names = std::collections::HashMap::new();
    for step in &p.steps {
        for id in step
            .approval
            .iter()
            .filter_map(|a| a.users.as_ref())
            .flat_map(|u| u.user_ids.iter())
        {
            if let Ok(u) = common::user(&s, id).await {
                let n = if u.display_name.is_empty() {
                    u.email
                } else {
                    u.display_name
                };
                names.insert(id.clone(), n);
            }
        }
    }
    let name = |id: &str| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("user {id}"))
    };
    let steps: Vec<Value> = p
        .steps
        .iter()
        .map(|st| json!({"kinds": st.kinds(), "description": chamberlain_access::policy::describe_step(st, &name)}))
        .collect();
    let (profile, contents, tools, tool_count) = what_it_grants(&s, &p.entitlement).await?;
    Ok(Json(json!({
        "profile": profile.map(|c| json!({"id": c.id, "displayName": c.display_name, "description": c.description})),
        "contents": contents,
        "tools": tools,
        "toolCount": tool_count,
        "appEntitlement": {"id": p.entitlement.id, "appId": p.entitlement.app_id,
            "displayName": p.entitlement.display_name, "description": p.entitlement.description},
        "app": {"id": p.entitlement.app_id, "displayName": p.app_name},
        "policy": {"id": p.policy.id, "displayName": p.policy.display_name},
        "outcome": chamberlain_access::policy::outcome(&p.steps),
        "steps": steps,
        "grantDuration": p.duration,
        "maxGrantDuration": p.max_duration,
        "emergencyAccessAvailable": p.emergency_available,
        "notes": p.notes,
    })))
}

/// Most tool names a preview lists (the count says how many there are in all).
const PREVIEW_TOOLS: usize = 50;

/// What holding `ent` brings beyond itself: for an access profile's membership, the profile
/// and the entitlements it grants; and the MCP tools a holder could call now (approved, not
/// switched off), by their exposed names.
async fn what_it_grants(
    s: &Shared,
    ent: &chamberlain_model::app::AppEntitlement,
) -> ApiResult<(
    Option<chamberlain_model::catalog::RequestCatalog>,
    Vec<Value>,
    Vec<String>,
    usize,
)> {
    let mut held = std::collections::HashSet::from([ent.id.clone()]);
    let mut contents = Vec::new();
    let mut profile = None;
    if ent.app_id == catalogs::BUILTIN_APP_ID {
        let mut conn = s
            .store
            .pool()
            .acquire()
            .await
            .map_err(chamberlain_store::StoreError::from)?;
        if let Some(c) = catalogs::catalog_for_enrollment(&mut conn, &ent.id).await? {
            for (app_id, id) in catalogs::catalog_entitlements(&mut conn, &c.id).await? {
                let e = common::entitlement(s, &app_id, &id).await?;
                let app = common::app(s, &app_id).await?;
                contents.push(
                    json!({"appId": app_id, "id": id, "displayName": e.display_name,
                    "appDisplayName": app.display_name}),
                );
                held.insert(id);
            }
            profile = Some(c);
        }
    }
    let index = s.gateway.index();
    let names: Vec<String> = index
        .visible(&held)
        .map(|t| t.tool.chamberlain_exposed_name.clone())
        .collect();
    let count = names.len();
    Ok((
        profile,
        contents,
        names.into_iter().take(PREVIEW_TOOLS).collect(),
        count,
    ))
}

/// `POST /api/v1/task/grant`: requests access. The same request while one is open returns the
/// open task.
pub async fn create_grant(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreateGrantRequest>,
) -> ApiResult<Json<Value>> {
    let task = request_access(
        &s,
        &caller,
        AccessRequest::from(r),
        // C1 has no CLI origin; the CLI is an API client like any other.
        TaskOrigin::Api,
    )
    .await?;
    Ok(respond(task, &caller))
}

/// `POST /api/v1/task/revoke`: asks for access to be removed.
pub async fn create_revoke(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreateRevokeRequest>,
) -> ApiResult<Json<Value>> {
    let _ = &r.expand_mask;
    require("appId", &r.app_id)?;
    require("appEntitlementId", &r.app_entitlement_id)?;
    let subject =
        subject_allowed(&s, &caller, &r.app_id, &r.app_user_id, &r.identity_user_id).await?;
    let task = engine(&s)
        .create_revoke(
            &actor(&caller),
            RevokeRequest {
                app_id: r.app_id,
                entitlement_id: r.app_entitlement_id,
                app_user_id: r.app_user_id,
                identity_user_id: if r.identity_user_id.is_empty() {
                    subject
                } else {
                    r.identity_user_id
                },
                justification: r.description,
                // C1 has no CLI origin; the CLI is an API client like any other.
                origin: TaskOrigin::Api,
                steps_override: None,
                ..Default::default()
            },
        )
        .await?;
    Ok(respond(task, &caller))
}

/// `GET /api/v1/tasks/{id}` (id or numeric id).
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = engine(&s).get(&id).await?;
    if !may_see(&task, &caller) {
        return Err(ApiError::not_found(format!("task `{id}` was not found")));
    }
    Ok(Json(
        json!({"taskView": view(task, &caller), "expanded": []}),
    ))
}

/// The body of every task action.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ActionRequest {
    comment: String,
    policy_step_id: String,
    new_step_user_ids: Vec<String>,
    duration: Option<Duration>,
    expand_mask: Option<Value>,
}

/// Acts on a task (id or number) as `caller`, whatever the channel; the engine decides from
/// the task's current step whether the caller may.
pub async fn act_on(s: &Shared, caller: &Caller, id: &str, action: Action) -> ApiResult<Task> {
    let e = engine(s);
    let task = e.get(id).await?;
    if !may_see(&task, caller) {
        return Err(ApiError::not_found(format!("task `{id}` was not found")));
    }
    Ok(e.act(&actor(caller), &task.id, action).await?)
}

async fn act(s: &Shared, caller: &Caller, id: &str, action: Action) -> ApiResult<Json<Value>> {
    let task = act_on(s, caller, id, action).await?;
    Ok(respond(task, caller))
}

macro_rules! action_handler {
    ($name:ident, $doc:literal, |$r:ident| $make:expr) => {
        #[doc = $doc]
        pub async fn $name(
            State(s): State<Shared>,
            caller: Caller,
            Path(id): Path<String>,
            Body($r): Body<ActionRequest>,
        ) -> ApiResult<Json<Value>> {
            let _ = &$r.expand_mask;
            act(&s, &caller, &id, $make).await
        }
    };
}

action_handler!(
    approve,
    "`POST /api/v1/tasks/{task_id}/action/approve` (also completes a manual provisioning step).",
    |r| Action::Approve {
        comment: r.comment,
        step_id: r.policy_step_id
    }
);
action_handler!(deny, "`POST /api/v1/tasks/{task_id}/action/deny`.", |r| {
    Action::Deny {
        comment: r.comment,
        step_id: r.policy_step_id,
    }
});
action_handler!(
    comment,
    "`POST /api/v1/tasks/{task_id}/action/comment`.",
    |r| Action::Comment { comment: r.comment }
);
action_handler!(
    reassign,
    "`POST /api/v1/tasks/{task_id}/action/reassign`.",
    |r| Action::Reassign {
        comment: r.comment,
        step_id: r.policy_step_id,
        user_ids: r.new_step_user_ids
    }
);
action_handler!(
    close,
    "`POST /api/v1/tasks/{task_id}/action/close`: cancels an open task.",
    |r| Action::Close { comment: r.comment }
);
action_handler!(
    escalate,
    "`POST /api/v1/tasks/{task_id}/action/escalate`: switches to the emergency policy.",
    |r| Action::Escalate { comment: r.comment }
);
action_handler!(
    update_grant_duration,
    "`POST /api/v1/tasks/{task_id}/action/update-grant-duration`.",
    |r| Action::UpdateGrantDuration {
        duration: r.duration
    }
);
action_handler!(
    skip_step,
    "`POST /api/v1/tasks/{task_id}/action/skip-step` (super admins).",
    |r| Action::SkipStep {
        comment: r.comment,
        step_id: r.policy_step_id
    }
);
action_handler!(
    retry_provisioning,
    "`POST /api/v1/tasks/{task_id}/action/retry-provisioning`.",
    |r| Action::RetryProvisioning { comment: r.comment }
);

/// `c1.api.task.v1.TaskSearchRequest` (the filters Chamberlain applies; others are refused
/// when set, so a client never gets silently unfiltered results).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchRequest {
    task_states: Vec<String>,
    task_types: Vec<Value>,
    assignees_in_ids: Vec<String>,
    my_work_user_ids: Vec<String>,
    subject_ids: Vec<String>,
    app_user_subject_ids: Vec<String>,
    application_ids: Vec<String>,
    app_entitlement_ids: Vec<String>,
    opener_ids: Vec<String>,
    grant_outcomes: Vec<String>,
    revoke_outcomes: Vec<String>,
    current_step: String,
    emergency_status: String,
    exclude_ids: Vec<String>,
    created_after: Option<Timestamp>,
    created_before: Option<Timestamp>,
    sort_by: String,
    page_size: Option<i64>,
    page_token: String,
    expand_mask: Option<Value>,
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

/// `POST /api/v1/search/tasks`.
pub async fn search(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchRequest>,
) -> ApiResult<Json<Value>> {
    let _ = &r.expand_mask;
    if let Some((k, _)) = r.other.iter().find(|(_, v)| !is_empty(v)) {
        return Err(ApiError::invalid(format!(
            "search filter `{k}` is not supported by Chamberlain; remove it (supported: taskStates, taskTypes, assigneesInIds, myWorkUserIds, subjectIds, appUserSubjectIds, applicationIds, appEntitlementIds, openerIds, grantOutcomes, revokeOutcomes, currentStep, emergencyStatus, excludeIds, createdAfter, createdBefore, sortBy)"
        )));
    }
    let mut kinds = Vec::new();
    for t in &r.task_types {
        let o = t.as_object().ok_or_else(|| {
            ApiError::invalid("taskTypes entries are objects such as {\"grant\": {}}")
        })?;
        for k in o.keys() {
            match k.as_str() {
                "grant" | "revoke" => kinds.push(k.clone()),
                other => kinds.push(other.to_string()),
            }
        }
    }
    for st in &r.task_states {
        if !matches!(st.as_str(), "TASK_STATE_OPEN" | "TASK_STATE_CLOSED") {
            return Err(ApiError::invalid(format!(
                "taskStates: `{st}` is not TASK_STATE_OPEN or TASK_STATE_CLOSED"
            )));
        }
    }
    let mut outcomes = r.grant_outcomes.clone();
    outcomes.extend(r.revoke_outcomes.iter().cloned());
    let current_step = match r.current_step.as_str() {
        "" | "TASK_SEARCH_CURRENT_STEP_UNSPECIFIED" => None,
        "TASK_SEARCH_CURRENT_STEP_APPROVAL" => Some("approval".to_string()),
        "TASK_SEARCH_CURRENT_STEP_PROVISION" => Some("provision".to_string()),
        other => {
            return Err(ApiError::invalid(format!(
                "currentStep: `{other}` is not a TASK_SEARCH_CURRENT_STEP_* value"
            )))
        }
    };
    let emergency = match r.emergency_status.as_str() {
        "" | "UNSPECIFIED" | "ALL" => None,
        "EMERGENCY" => Some(true),
        "NON_EMERGENCY" => Some(false),
        other => {
            return Err(ApiError::invalid(format!(
                "emergencyStatus: `{other}` is not ALL, EMERGENCY or NON_EMERGENCY"
            )))
        }
    };
    let descending = match r.sort_by.as_str() {
        "" | "TASK_SEARCH_SORT_BY_UNSPECIFIED" | "TASK_SEARCH_SORT_BY_REVERSE_TICKET_ID" | "TASK_SEARCH_SORT_BY_REVERSE_CREATED_AT" => true,
        "TASK_SEARCH_SORT_BY_TICKET_ID" | "TASK_SEARCH_SORT_BY_CREATED_AT" => false,
        other => return Err(ApiError::invalid(format!("sortBy `{other}` is not supported; use TASK_SEARCH_SORT_BY_CREATED_AT or TASK_SEARCH_SORT_BY_REVERSE_CREATED_AT"))),
    };
    let mut assignees = r.assignees_in_ids.clone();
    assignees.extend(r.my_work_user_ids.iter().cloned());
    let q = TaskQuery {
        kinds,
        states: r.task_states.clone(),
        assignees,
        subjects: r.subject_ids.clone(),
        requesters: r.opener_ids.clone(),
        app_ids: r.application_ids.clone(),
        entitlement_ids: r.app_entitlement_ids.clone(),
        app_user_ids: r.app_user_subject_ids.clone(),
        outcomes,
        origins: vec![],
        current_step,
        emergency,
        exclude_ids: r.exclude_ids.clone(),
        created_after: r.created_after.map(|t| t.as_micros()),
        created_before: r.created_before.map(|t| t.as_micros()),
        involving: (!caller.principal.can_read_all()).then(|| caller.principal.user_id.clone()),
    };
    let mut page = common::body_page(r.page_size, &r.page_token)?;
    page.descending = descending;
    let found = tasks::search(s.store.pool(), &q, &page).await?;
    let list: Vec<Value> = found
        .items
        .into_iter()
        .map(|t| view(t.task, &caller))
        .collect();
    Ok(Json(
        json!({"list": list, "nextPageToken": found.next_page_token, "expanded": []}),
    ))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// `c1.api.task.v1.TaskAuditListRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuditRequest {
    task_id: String,
    comments_only: bool,
    newest_first: bool,
    page_size: Option<i64>,
    page_token: String,
    refs: Vec<Value>,
}

/// `POST /api/v1/task/audits`: a task's history.
pub async fn audits(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<AuditRequest>,
) -> ApiResult<Json<Value>> {
    let _ = &r.refs;
    require("taskId", &r.task_id)?;
    let task = engine(&s).get(&r.task_id).await?;
    if !may_see(&task, &caller) {
        return Err(ApiError::not_found(format!(
            "task `{}` was not found",
            r.task_id
        )));
    }
    let mut page: PageReq = common::body_page(r.page_size, &r.page_token)?;
    page.descending = r.newest_first;
    let found = tasks::audits(s.store.pool(), &task.id, r.comments_only, &page).await?;
    Ok(Json(
        json!({"list": found.items, "nextPageToken": found.next_page_token}),
    ))
}
