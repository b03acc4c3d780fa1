//! Tasks: the approvals and provisioning steps waiting for me, with approve / deny / reassign /
//! comment (reasons where the policy requires them).

use super::mine::{status_badge, waiting_for};
use super::{query, user_names};
use crate::api::{self, enc, list, text};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

fn flag(t: &Value, name: &str) -> bool {
    api::at(t, &format!("policy.current.approval.approval.{name}"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn task_card(v: &Viewer, t: &Value, names: &std::collections::HashMap<String, String>) -> String {
    let id = text(t, "id");
    let actions: Vec<&str> = list(t, "actions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let mut forms = String::new();
    let form = |action: &str, label: &str, class: &str, fields: String| {
        format!(
            "<form method=\"post\" action=\"/tasks/{}/act\" class=\"decision\">{}{}{fields}<button type=\"submit\" class=\"{class}\">{}</button></form>",
            esc(id),
            ui::csrf(v),
            ui::hidden("action", action),
            esc(label)
        )
    };
    let reason = |action: &str, required: bool| {
        let label = if required {
            "Reason (required)"
        } else {
            "Comment (optional)"
        };
        format!(
            "<label for=\"f-{action}-{id}\">{label}</label><textarea id=\"f-{action}-{id}\" name=\"comment\" rows=\"2\" maxlength=\"4096\"{}></textarea>",
            if required { " required" } else { "" },
            id = esc(id)
        )
    };
    let provisioning = api::at(t, "policy.current.provision").is_some();
    if actions.contains(&"TASK_ACTION_TYPE_APPROVE") {
        let label = if provisioning {
            "Mark provisioned"
        } else {
            "Approve"
        };
        forms.push_str(&form(
            "approve",
            label,
            "",
            reason("approve", flag(t, "requireApprovalReason")),
        ));
    } else if actions.contains(&"TASK_ACTION_TYPE_PROVISION_COMPLETE") {
        forms.push_str(&form(
            "approve",
            "Mark provisioned",
            "",
            reason("approve", false),
        ));
    }
    if actions.contains(&"TASK_ACTION_TYPE_DENY") {
        forms.push_str(&form(
            "deny",
            "Deny",
            "danger",
            reason("deny", flag(t, "requireDenialReason")),
        ));
    }
    if actions.contains(&"TASK_ACTION_TYPE_REASSIGN") {
        let who = format!(
            "<label for=\"f-to-{id}\">Reassign to (email address)</label><input id=\"f-to-{id}\" name=\"reassign_to\" type=\"email\" required>{}",
            reason("reassign", flag(t, "requireReassignmentReason")),
            id = esc(id)
        );
        forms.push_str(&form("reassign", "Reassign", "secondary", who));
    }
    format!(
        "<article class=\"card task\" id=\"task-{}\"><h2>{}</h2><dl class=\"facts\"><dt>Status</dt><dd>{}</dd>\
<dt>Step</dt><dd>{}</dd><dt>For</dt><dd>{}</dd><dt>Requested by</dt><dd>{}</dd><dt>Requested</dt><dd>{}</dd>\
<dt>Justification</dt><dd>{}</dd></dl><div class=\"decisions\">{forms}</div><p>{}</p></article>",
        esc(id),
        ui::link(&format!("/requests/{}", enc(id)), text(t, "displayName")),
        status_badge(t),
        esc(&waiting_for(t, names)),
        esc(&name(text(t, "userId"))),
        esc(&name(text(t, "createdByUserId"))),
        ui::when(text(t, "createdAt")),
        esc(text(t, "description")),
        ui::link(&format!("/requests/{}", enc(id)), "History and comments"),
    )
}

/// `GET /tasks`.
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let token = query(&raw, "page");
    let found = w
        .api
        .post(
            &v,
            "/api/v1/search/tasks",
            json!({"assigneesInIds": [v.user.id], "taskStates": ["TASK_STATE_OPEN"], "pageSize": 25, "pageToken": token}),
        )
        .await;
    let mut body = ui::done_notice(&query(&raw, "done"));
    match found {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let tasks: Vec<&Value> = list(&found, "list")
                .iter()
                .filter_map(|x| x.get("task"))
                .collect();
            let mut ids: Vec<String> = Vec::new();
            for t in &tasks {
                ids.extend(
                    list(t, "stepApproverIds")
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string),
                );
                ids.push(text(t, "userId").to_string());
                ids.push(text(t, "createdByUserId").to_string());
            }
            let names = user_names(&w, &ids).await;
            if tasks.is_empty() {
                body.push_str(
                    "<p class=\"empty\" id=\"tasks-empty\">Nothing is waiting for you.</p>",
                );
            }
            for t in tasks {
                body.push_str(&task_card(&v, t, &names));
            }
            body.push_str(&ui::pager("/tasks", text(&found, "nextPageToken")));
        }
    }
    Page::new(Section::Tasks, "Tasks", body).render(&v)
}

/// `POST /tasks/{id}/act` (form: action, comment, reassign_to).
pub async fn act(State(w): State<Web>, v: Viewer, Path(id): Path<String>, f: Form) -> Response {
    let action = f.get("action");
    let comment = f.get("comment");
    let fail = |msg: &str| {
        Page::new(
            Section::Tasks,
            "Tasks",
            format!(
                "{}<p><a href=\"/tasks\">Back to tasks</a> · <a href=\"/requests/{}\">This request</a></p>",
                ui::notice("error", msg),
                esc(&enc(&id))
            ),
        )
        .status(StatusCode::BAD_REQUEST)
        .render(&v)
    };
    let (path, body, done, back) = match action {
        "approve" => (
            "approve",
            json!({"comment": comment}),
            "approved",
            "/tasks".to_string(),
        ),
        "deny" => (
            "deny",
            json!({"comment": comment}),
            "denied",
            "/tasks".to_string(),
        ),
        "comment" => {
            if comment.is_empty() {
                return fail("Write a comment before adding it.");
            }
            (
                "comment",
                json!({"comment": comment}),
                "commented",
                format!("/requests/{}", enc(&id)),
            )
        }
        "reassign" => {
            let email = f.get("reassign_to");
            let user = match chamberlain_store::repo::web_auth::user_by_email(&w.shared.store, email).await {
                Ok(Some(u)) => u,
                _ => return fail(&format!("No user has the email address {email}; enter the address of the person to reassign to.")),
            };
            (
                "reassign",
                json!({"comment": comment, "newStepUserIds": [user.id]}),
                "reassigned",
                "/tasks".to_string(),
            )
        }
        other => return fail(&format!("Unknown action `{other}`.")),
    };
    match w
        .api
        .post(
            &v,
            &format!("/api/v1/tasks/{}/action/{path}", enc(&id)),
            body,
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("{back}?done={done}")).into_response(),
        Err(e) => fail(&e.message),
    }
}
