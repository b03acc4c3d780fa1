//! My requests: what I asked for (and what was asked for me), its status, who must act next,
//! its history; cancelling an open request and commenting.

use super::{query, user_names};
use crate::api::{self, enc, list, text};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

/// A task's status in words, as a badge.
pub(crate) fn status_badge(t: &Value) -> String {
    if text(t, "state") == "TASK_STATE_OPEN" {
        return ui::badge("warn", "Open");
    }
    let outcome = if api::at(t, "type.grant").is_some() {
        text(t, "type.grant.outcome")
    } else {
        text(t, "type.revoke.outcome")
    };
    match outcome.rsplit('_').next().unwrap_or("") {
        "GRANTED" | "REVOKED" => ui::badge(
            "ok",
            if outcome.contains("GRANT_") {
                "Granted"
            } else {
                "Revoked"
            },
        ),
        "DENIED" => ui::badge("bad", "Denied"),
        "CANCELLED" => ui::badge("", "Cancelled"),
        "ERROR" => ui::badge("bad", "Failed"),
        _ => ui::badge("", "Closed"),
    }
}

/// What the task waits for now, in words ("Approval by Dana Lee").
pub(crate) fn waiting_for(t: &Value, names: &std::collections::HashMap<String, String>) -> String {
    if text(t, "state") != "TASK_STATE_OPEN" {
        return String::new();
    }
    let who: Vec<String> = list(t, "stepApproverIds")
        .iter()
        .filter_map(Value::as_str)
        .map(|id| names.get(id).cloned().unwrap_or_else(|| id.to_string()))
        .collect();
    let step = match api::at(t, "policy.current") {
        Some(c) if c.get("approval").is_some() => "Approval",
        Some(c) if c.get("provision").is_some() => "Provisioning",
        Some(c) if c.get("wait").is_some() => "A wait",
        Some(_) => "A step",
        None => "Processing",
    };
    if who.is_empty() {
        step.to_string()
    } else {
        format!("{step} by {}", who.join(", "))
    }
}

fn approver_ids(tasks: &[&Value]) -> Vec<String> {
    tasks
        .iter()
        .flat_map(|t| list(t, "stepApproverIds").iter())
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// `GET /requests/mine`.
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let state = query(&raw, "state");
    let token = query(&raw, "page");
    let states: Vec<&str> = match state.as_str() {
        "open" => vec!["TASK_STATE_OPEN"],
        "closed" => vec!["TASK_STATE_CLOSED"],
        _ => vec![],
    };
    let found = w
        .api
        .post(
            &v,
            "/api/v1/search/tasks",
            json!({"subjectIds": [v.user.id], "taskStates": states, "pageSize": 25, "pageToken": token}),
        )
        .await;
    let tabs: String = [("", "All"), ("open", "Open"), ("closed", "Closed")]
        .iter()
        .map(|(k, label)| {
            let cur = if *k == state {
                " aria-current=\"page\""
            } else {
                ""
            };
            let href = if k.is_empty() {
                "/requests/mine".to_string()
            } else {
                format!("/requests/mine?state={k}")
            };
            format!("<a href=\"{href}\"{cur}>{label}</a>")
        })
        .collect();
    let mut body = format!(
        "{}<nav class=\"tabs\" aria-label=\"Filter\">{tabs}</nav>",
        ui::done_notice(&query(&raw, "done"))
    );
    match found {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let tasks: Vec<&Value> = list(&found, "list")
                .iter()
                .filter_map(|x| x.get("task"))
                .collect();
            let names = user_names(&w, &approver_ids(&tasks)).await;
            let rows: Vec<Vec<String>> = tasks
                .iter()
                .map(|t| {
                    vec![
                        ui::link(
                            &format!("/requests/{}", enc(text(t, "id"))),
                            text(t, "displayName"),
                        ),
                        status_badge(t),
                        esc(&waiting_for(t, &names)),
                        ui::when(text(t, "createdAt")),
                    ]
                })
                .collect();
            body.push_str(&ui::table(
                "my-requests",
                &["Request", "Status", "Waiting for", "Requested"],
                &rows,
                "You have no requests here. Find something to request under Requests.",
            ));
            let base = if state.is_empty() {
                "/requests/mine".to_string()
            } else {
                format!("/requests/mine?state={}", enc(&state))
            };
            body.push_str(&ui::pager(&base, text(&found, "nextPageToken")));
        }
    }
    Page::new(Section::MyRequests, "My requests", body).render(&v)
}

/// The words of one history entry: its event (the key besides the common fields) and any
/// comment or reason it carries.
fn history_entry(e: &Value) -> (String, String) {
    const COMMON: &[&str] = &[
        "id",
        "ticketId",
        "userId",
        "created",
        "currentState",
        "eventType",
        "source",
        "workflowStep",
    ];
    let Some(o) = e.as_object() else {
        return (String::new(), String::new());
    };
    let Some((k, inner)) = o.iter().find(|(k, _)| !COMMON.contains(&k.as_str())) else {
        return ("Update".into(), String::new());
    };
    let mut event = String::new();
    for (i, c) in k.chars().enumerate() {
        if c.is_ascii_uppercase() {
            event.push(' ');
            event.push(c.to_ascii_lowercase());
        } else if i == 0 {
            event.push(c.to_ascii_uppercase());
        } else {
            event.push(c);
        }
    }
    let mut said = String::new();
    fn find(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("comment" | "reason" | "message" | "description", Value::String(s))
                            if !s.is_empty() =>
                        {
                            if out.is_empty() {
                                out.push_str(s);
                            }
                        }
                        _ => find(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| find(x, out)),
            _ => {}
        }
    }
    find(inner, &mut said);
    (event, said)
}

/// `GET /requests/{id}`.
pub async fn detail(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let t = match w.api.get(&v, &format!("/api/v1/tasks/{}", enc(&id))).await {
        Ok(t) => t,
        Err(e) => {
            return Page::new(
                Section::MyRequests,
                "Request",
                ui::notice("error", &e.message),
            )
            .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::NOT_FOUND))
            .render(&v)
        }
    };
    let t = api::at(&t, "taskView.task").cloned().unwrap_or(Value::Null);
    let history = w
        .api
        .post(
            &v,
            "/api/v1/task/audits",
            json!({"taskId": id, "pageSize": 100}),
        )
        .await
        .unwrap_or(Value::Null);
    let mut ids = approver_ids(&[&t]);
    ids.push(text(&t, "userId").to_string());
    ids.push(text(&t, "createdByUserId").to_string());
    ids.extend(
        list(&history, "list")
            .iter()
            .map(|e| text(e, "userId").to_string()),
    );
    let names = user_names(&w, &ids).await;
    let name = |id: &str| {
        names.get(id).cloned().unwrap_or_else(|| {
            if id.is_empty() {
                "Chamberlain".into()
            } else {
                id.to_string()
            }
        })
    };
    let actions: Vec<&str> = list(&t, "actions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut buttons = String::new();
    if actions.contains(&"TASK_ACTION_TYPE_CLOSE") {
        buttons.push_str(&ui::action_button(
            &v,
            &format!("/requests/{}/cancel", enc(&id)),
            "Cancel request",
            "secondary",
            "Cancel this request?",
        ));
    }
    if actions.contains(&"TASK_ACTION_TYPE_APPROVE") {
        buttons.push_str(&format!(
            "<a href=\"/tasks#task-{}\">Decide in Tasks</a>",
            esc(&id)
        ));
    }
    let duration = ui::duration(text(&t, "type.grant.grantDuration"));
    let rows: Vec<Vec<String>> = list(&history, "list")
        .iter()
        .map(|e| {
            let (event, said) = history_entry(e);
            vec![
                ui::when(text(e, "created")),
                esc(&name(text(e, "userId"))),
                esc(&event),
                esc(&said),
            ]
        })
        .collect();
    let body = format!(
        "{}<div class=\"card\"><dl class=\"facts\"><dt>Status</dt><dd id=\"request-status\">{}</dd>\
<dt>Waiting for</dt><dd id=\"waiting-for\">{}</dd><dt>For</dt><dd>{}</dd><dt>Requested by</dt><dd>{}</dd>\
<dt>Requested</dt><dd>{}</dd><dt>Length</dt><dd>{}</dd><dt>Justification</dt><dd>{}</dd><dt>Policy</dt><dd>{}</dd></dl>\
<div class=\"actions\">{buttons}</div></div>\
<h2>History</h2>{}\
<form method=\"post\" action=\"/tasks/{}/act\" class=\"card\">{}{}{}<div class=\"actions\"><button type=\"submit\" class=\"secondary\">Add comment</button></div></form>",
        ui::done_notice(&query(&raw, "done")),
        status_badge(&t),
        esc(&waiting_for(&t, &names)),
        esc(&name(text(&t, "userId"))),
        esc(&name(text(&t, "createdByUserId"))),
        ui::when(text(&t, "createdAt")),
        if duration.is_empty() { "Until removed".to_string() } else { esc(&duration) },
        esc(text(&t, "description")),
        esc(text(&t, "policy.policy.displayName")),
        ui::table("request-history", &["When", "Who", "What", "Comment or reason"], &rows, "No history yet."),
        esc(&id),
        ui::csrf(&v),
        ui::hidden("action", "comment"),
        ui::text_area("Comment", "comment", "", "required maxlength=\"4096\""),
    );
    Page::new(
        Section::MyRequests,
        text(&t, "displayName").to_string(),
        body,
    )
    .render(&v)
}

/// `POST /requests/{id}/cancel`.
pub async fn cancel(State(w): State<Web>, v: Viewer, Path(id): Path<String>, _f: Form) -> Response {
    match w
        .api
        .post(
            &v,
            &format!("/api/v1/tasks/{}/action/close", enc(&id)),
            json!({"comment": "Cancelled by the requester"}),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/requests/{}?done=cancelled", enc(&id))).into_response(),
        Err(e) => Page::new(
            Section::MyRequests,
            "Request",
            ui::notice("error", &e.message),
        )
        .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
        .render(&v),
    }
}
