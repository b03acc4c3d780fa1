//! My access: what I hold now, where it comes from (direct, an access profile, a binding to
//! another entitlement) and when it ends; giving access back early.

use super::{query, request_href};
use crate::api::{self, enc, list, text};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chamberlain_store::repo::catalogs::BUILTIN_APP_ID;
use serde_json::{json, Value};
use std::collections::HashMap;

/// `GET /access`.
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let token = query(&raw, "page");
    let found = w
        .api
        .post(
            &v,
            "/api/v1/search/grants",
            json!({"userId": v.user.id, "pageSize": 50, "pageToken": token, "expandMask": {"paths": ["appId"]}}),
        )
        .await;
    let mut body = ui::done_notice(&query(&raw, "done"));
    match found {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let apps: HashMap<&str, &str> = list(&found, "expanded")
                .iter()
                .map(|a| (text(a, "id"), text(a, "displayName")))
                .collect();
            let ents: HashMap<&str, &str> = list(&found, "list")
                .iter()
                .map(|i| {
                    (
                        text(i, "entitlement.appEntitlement.id"),
                        text(i, "entitlement.appEntitlement.displayName"),
                    )
                })
                .collect();
            let held: Vec<&str> = ents.keys().copied().collect();
            let via_profile = profile_grants(&w, &v, &held).await;
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|i| {
                    let g = api::at(i, "appEntitlementUserBinding").unwrap_or(&Value::Null);
                    let (app_id, ent_id) = (text(g, "appId"), text(g, "appEntitlementId"));
                    let profile = via_profile.get(ent_id).map(|enroll| {
                        let name = ents.get(enroll.as_str()).copied().unwrap_or("an access profile");
                        format!("Access profile “{name}”")
                    });
                    let sources: Vec<String> = list(g, "grantSources")
                        .iter()
                        .map(|s| {
                            let name = ents.get(text(s, "id")).copied().unwrap_or("another entitlement");
                            if text(s, "appId") == BUILTIN_APP_ID {
                                format!("Access profile “{name}”")
                            } else {
                                format!("Through “{name}”")
                            }
                        })
                        .chain(profile)
                        .collect();
                    let source = if sources.is_empty() { "Direct".to_string() } else { sources.join("; ") };
                    let ends = text(g, "deprovisionAt");
                    let give_back = if sources.is_empty() {
                        format!(
                            "<form method=\"post\" action=\"/access/give-back\" class=\"inline\" data-confirm=\"Give this access back now?\">{}{}{}<button type=\"submit\" class=\"secondary\">Give back</button></form>",
                            ui::csrf(&v),
                            ui::hidden("app", app_id),
                            ui::hidden("entitlement", ent_id)
                        )
                    } else {
                        "<span class=\"muted\">Ends with its source</span>".to_string()
                    };
                    let extend = if ends.is_empty() || !sources.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", ui::link(&request_href(app_id, ent_id), "Extend"))
                    };
                    vec![
                        esc(text(i, "entitlement.appEntitlement.displayName")),
                        esc(if app_id == BUILTIN_APP_ID { "Access profiles" } else { apps.get(app_id).copied().unwrap_or(app_id) }),
                        esc(&source),
                        if ends.is_empty() { "Until removed".into() } else { ui::when(ends) },
                        format!("{give_back}{extend}"),
                    ]
                })
                .collect();
            body.push_str(&ui::table(
                "my-access",
                &["Access", "App", "Source", "Ends", ""],
                &rows,
                "You hold no access yet. Request what you need under Requests.",
            ));
            body.push_str(&ui::pager("/access", text(&found, "nextPageToken")));
        }
    }
    Page::new(Section::MyAccess, "My access", body).render(&v)
}

/// Which of `held` (entitlement ids) I hold because an access profile enrolled me: entitlement
/// id → the profile's enrollment entitlement id. Profile contents are granted by child tasks of
/// the membership request, so the newest granted request of each entitlement tells whether it
/// came from a profile (a parent task) or was asked for directly.
async fn profile_grants(w: &Web, v: &Viewer, held: &[&str]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if held.is_empty() {
        return out;
    }
    let Ok(found) = w
        .api
        .post(
            v,
            "/api/v1/search/tasks",
            json!({"subjectIds": [v.user.id], "taskTypes": [{"grant": {}}],
                   "grantOutcomes": ["GRANT_OUTCOME_GRANTED"], "appEntitlementIds": held,
                   "pageSize": 100}),
        )
        .await
    else {
        return out;
    };
    let tasks: Vec<&Value> = list(&found, "list")
        .iter()
        .filter_map(|x| x.get("task"))
        .collect();
    let mut newest: HashMap<&str, &str> = HashMap::new();
    for t in &tasks {
        newest
            .entry(text(t, "type.grant.appEntitlementId"))
            .or_insert(text(t, "chamberlainParentTaskId"));
    }
    let mut parents: HashMap<&str, String> = tasks
        .iter()
        .map(|t| {
            (
                text(t, "id"),
                text(t, "type.grant.appEntitlementId").to_string(),
            )
        })
        .collect();
    for (ent, parent) in newest {
        if parent.is_empty() {
            continue;
        }
        if !parents.contains_key(parent) {
            let Ok(p) = w
                .api
                .get(v, &format!("/api/v1/tasks/{}", enc(parent)))
                .await
            else {
                continue;
            };
            let p_ent = text(&p, "taskView.task.type.grant.appEntitlementId").to_string();
            parents.insert(parent, p_ent);
        }
        if let Some(p_ent) = parents.get(parent).filter(|e| !e.is_empty()) {
            out.insert(ent.to_string(), p_ent.clone());
        }
    }
    out
}

/// `POST /access/give-back` (form: app, entitlement): asks for my own grant to be removed.
pub async fn give_back(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let body = json!({
        "appId": f.get("app"),
        "appEntitlementId": f.get("entitlement"),
        "identityUserId": v.user.id,
        "description": "Given back by the user",
    });
    match w.api.post(&v, "/api/v1/task/revoke", body).await {
        Ok(t) => {
            let id = text(&t, "taskView.task.id");
            Redirect::to(&format!("/requests/{}?done=returned", enc(id))).into_response()
        }
        Err(e) => Page::new(
            Section::MyAccess,
            "My access",
            ui::notice("error", &e.message),
        )
        .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
        .render(&v),
    }
}
