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
    let provisioning = api::at(t, "policy.current.provision").is_some();
    let can_approve = actions.contains(&"TASK_ACTION_TYPE_APPROVE")
        || actions.contains(&"TASK_ACTION_TYPE_PROVISION_COMPLETE");
    let can_deny = actions.contains(&"TASK_ACTION_TYPE_DENY");
    let mut forms = String::new();
    if can_approve || can_deny {
        let (need_ok, need_no) = (
            flag(t, "requireApprovalReason"),
            flag(t, "requireDenialReason"),
        );
        let label = match (need_ok, need_no) {
            (true, true) => "Reason (required)",
            (true, false) => "Reason (required to approve)",
            (false, true) => "Reason (required to deny)",
            _ => "Comment (optional)",
        };
        let mut buttons = String::new();
        if can_approve {
            let l = if provisioning {
                "Mark provisioned"
            } else {
                "Approve"
            };
            buttons.push_str(&format!(
                "<button type=\"submit\" name=\"action\" value=\"approve\">{l}</button>"
            ));
        }
        if can_deny {
            buttons.push_str("<button type=\"submit\" name=\"action\" value=\"deny\" class=\"danger\">Deny</button>");
        }
        forms.push_str(&format!(
            "<form method=\"post\" action=\"/tasks/{id}/act\" class=\"decision\">{}\
<label for=\"f-comment-{id}\">{label}</label><textarea id=\"f-comment-{id}\" name=\"comment\" rows=\"2\" maxlength=\"4096\"></textarea>\
<div class=\"actions\">{buttons}</div></form>",
            ui::csrf(v),
            id = esc(id),
        ));
    }
    if actions.contains(&"TASK_ACTION_TYPE_REASSIGN") {
        let need = flag(t, "requireReassignmentReason");
        forms.push_str(&format!(
            "<details class=\"reassign\"><summary>Reassign</summary><form method=\"post\" action=\"/tasks/{id}/act\">{}{}\
<label for=\"f-to-{id}\">Reassign to (email address)</label><input id=\"f-to-{id}\" name=\"reassign_to\" type=\"email\" required>\
<label for=\"f-why-{id}\">{}</label><textarea id=\"f-why-{id}\" name=\"comment\" rows=\"2\" maxlength=\"4096\"{}></textarea>\
<div class=\"actions\"><button type=\"submit\" class=\"secondary\">Reassign</button></div></form></details>",
            ui::csrf(v),
            ui::hidden("action", "reassign"),
            if need { "Reason (required)" } else { "Comment (optional)" },
            if need { " required" } else { "" },
            id = esc(id),
        ));
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
