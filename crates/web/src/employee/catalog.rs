//! Requests: the catalog of what I may request (entitlements and access profiles), and the
//! request form that shows the approval policy before I submit.

use super::{query, request_href};
use crate::api::{self, enc, list, text};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};
use std::collections::HashMap;

const PAGE_SIZE: i64 = 20;

/// The policy summary of a preview answer: a badge and the steps in words.
fn policy_summary(p: &Value) -> String {
    let outcome = text(p, "outcome");
    let badge = match outcome {
        "AUTO_APPROVE" => ui::badge("ok", "Auto-approved"),
        "AUTO_DENY" => ui::badge("bad", "Not granted"),
        _ => ui::badge("warn", "Requires approval"),
    };
    let jit = match ui::duration(text(p, "maxGrantDuration")) {
        d if d.is_empty() => String::new(),
        d => format!(" {}", ui::badge("", &format!("JIT: ends after {d}"))),
    };
    let steps: Vec<String> = list(p, "steps")
        .iter()
        .map(|s| text(s, "description"))
        .filter(|d| !d.starts_with("Provisioning"))
        .map(esc)
        .collect();
    let steps = if steps.is_empty() {
        String::new()
    } else {
        format!("<span class=\"muted\"> · {}</span>", steps.join(" → "))
    };
    format!("<span class=\"policy\">{badge}{jit}{steps}</span>")
}

/// What the item grants beyond itself: a profile's entitlements and the AI tools a holder
/// could call.
fn grants_summary(p: &Value) -> String {
    let mut out = String::new();
    let contents: Vec<String> = list(p, "contents")
        .iter()
        .map(|c| {
            esc(&format!(
                "{} ({})",
                text(c, "displayName"),
                text(c, "appDisplayName")
            ))
        })
        .collect();
    if !contents.is_empty() {
        out.push_str(&format!(
            "<p class=\"grants\"><strong>Grants:</strong> {}</p>",
            contents.join(", ")
        ));
    }
    let tools: Vec<String> = list(p, "tools")
        .iter()
        .filter_map(Value::as_str)
        .map(|t| format!("<code>{}</code>", esc(t)))
        .collect();
    if !tools.is_empty() {
        let total = api::at(p, "toolCount").and_then(Value::as_u64).unwrap_or(0) as usize;
        let more = if total > tools.len() {
            format!(" and {} more", total - tools.len())
        } else {
            String::new()
        };
        out.push_str(&format!(
            "<p class=\"tools\"><strong>AI tools:</strong> {}{more}</p>",
            tools.join(", ")
        ));
    }
    out
}

async fn preview(w: &Web, v: &Viewer, app_id: &str, ent_id: &str) -> api::Answer {
    w.api
        .post(
            v,
            "/api/v1/task/grant/preview",
            json!({"appId": app_id, "appEntitlementId": ent_id}),
        )
        .await
}

/// `GET /requests[?q=…&show=profiles&page=…]`: everything I may request, or only access
/// profiles (which otherwise come after the apps' entitlements).
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(&raw, "q");
    let token = query(&raw, "page");
    let profiles_only = query(&raw, "show") == "profiles";
    let mut req = json!({"query": q, "pageSize": PAGE_SIZE, "pageToken": token,
                         "expandMask": {"paths": ["appId"]}});
    if profiles_only {
        req["appDisplayName"] = json!(chamberlain_store::repo::catalogs::BUILTIN_APP_NAME);
    }
    let found = w
        .api
        .post(&v, "/api/v1/search/request_catalog/entitlements", req)
        .await;
    let show = if profiles_only { "profiles" } else { "" };
    let filters: String = [("", "Everything"), ("profiles", "Access profiles")]
        .iter()
        .map(|(k, label)| {
            let cur = if *k == show {
                " aria-current=\"page\""
            } else {
                ""
            };
            let href = match (*k, q.is_empty()) {
                ("", true) => "/requests".to_string(),
                ("", false) => format!("/requests?q={}", enc(&q)),
                (k, _) => format!("/requests?show={k}&q={}", enc(&q)),
            };
            format!("<a href=\"{}\"{cur}>{label}</a>", esc(&href))
        })
        .collect();
    let mut body =
        format!("<nav class=\"tabs\" aria-label=\"Show\" id=\"catalog-filters\">{filters}</nav>");
    body.push_str(&ui::search_form(
        "/requests",
        &q,
        "Search apps, entitlements and access profiles",
        &if profiles_only {
            ui::hidden("show", "profiles")
        } else {
            String::new()
        },
    ));
    match found {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let apps: HashMap<&str, &str> = list(&found, "expanded")
                .iter()
                .map(|a| (text(a, "id"), text(a, "displayName")))
                .collect();
            let mut cards = String::new();
            for item in list(&found, "list") {
                let e = api::at(item, "entitlement.appEntitlement").unwrap_or(&Value::Null);
                let (app_id, ent_id) = (text(e, "appId"), text(e, "id"));
                let app_name = apps.get(app_id).copied().unwrap_or("");
                let held = !list(item, "appEntitlementUserBindings").is_empty();
                let preview_answer = preview(&w, &v, app_id, ent_id).await;
                let (policy, grants) = match &preview_answer {
                    Ok(p) => (policy_summary(p), grants_summary(p)),
                    Err(e) => (
                        format!("<span class=\"muted\">{}</span>", esc(&e.message)),
                        String::new(),
                    ),
                };
                let kind = if app_id == chamberlain_store::repo::catalogs::BUILTIN_APP_ID {
                    "Access profile"
                } else {
                    app_name
                };
                let (mut title, mut about) = (text(e, "displayName"), text(e, "description"));
                if let Some(p) = preview_answer
                    .as_ref()
                    .ok()
                    .and_then(|p| api::at(p, "profile"))
                {
                    (title, about) = (text(p, "displayName"), text(p, "description"));
                }
                let action = if held {
                    ui::badge("ok", "You have this")
                } else {
                    format!(
                        "<a class=\"button\" href=\"{}\">Request access</a>",
                        esc(&request_href(app_id, ent_id))
                    )
                };
                cards.push_str(&format!(
                    "<article class=\"card catalog-item\" data-entitlement=\"{}\"><p class=\"muted\">{}</p><h2>{}</h2><p>{}</p>{grants}<p>{policy}</p><div class=\"actions\">{action}</div></article>",
                    esc(ent_id),
                    esc(kind),
                    esc(title),
                    esc(about),
                ));
            }
            if cards.is_empty() {
                let msg = if q.is_empty() {
                    "Nothing is requestable for you yet. Your administrators publish access profiles and mark entitlements requestable."
                } else {
                    "Nothing you may request matches your search."
                };
                body.push_str(&format!(
                    "<p class=\"empty\" id=\"catalog-empty\">{}</p>",
                    esc(msg)
                ));
            } else {
                body.push_str(&format!(
                    "<div class=\"cards\" id=\"catalog\">{cards}</div>"
                ));
            }
            body.push_str(&ui::pager(
                &format!("/requests?show={show}&q={}", enc(&q)),
                text(&found, "nextPageToken"),
            ));
        }
    }
    Page::new(Section::Requests, "Requests", body).render(&v)
}

/// What the form shows and re-shows after a refusal.
struct Draft {
    justification: String,
    duration_hours: String,
    emergency: bool,
}

async fn render_form(
    w: &Web,
    v: &Viewer,
    app_id: &str,
    ent_id: &str,
    draft: &Draft,
    problem: Option<&str>,
) -> Response {
    let preview = preview(w, v, app_id, ent_id).await;
    let p = match preview {
        Ok(p) => p,
        Err(e) => {
            let body = format!(
                "{}<p><a href=\"/requests\">Back to the catalog</a></p>",
                ui::notice("error", &e.message)
            );
            return Page::new(Section::Requests, "Request access", body)
                .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
                .render(v);
        }
    };
    let (name, description) = match api::at(&p, "profile") {
        Some(pr) => (text(pr, "displayName"), text(pr, "description")),
        None => (
            text(&p, "appEntitlement.displayName"),
            text(&p, "appEntitlement.description"),
        ),
    };
    let (name, description) = (name.to_string(), description.to_string());
    let max = ui::duration(text(&p, "maxGrantDuration"));
    let max_hours = text(&p, "maxGrantDuration")
        .trim_end_matches('s')
        .parse::<u64>()
        .map(|s| s / 3600)
        .unwrap_or(0);
    let duration_field = if max.is_empty() {
        ui::text_field(
            "Duration in hours (optional; leave empty for access that does not expire)",
            "duration_hours",
            &draft.duration_hours,
            "type=\"number\" min=\"1\" inputmode=\"numeric\"",
        )
    } else {
        ui::text_field(
            &format!("Duration in hours (at most {max}; empty means the maximum)"),
            "duration_hours",
            &draft.duration_hours,
            &format!("type=\"number\" min=\"1\" max=\"{max_hours}\" inputmode=\"numeric\""),
        )
    };
    let emergency = if api::at(&p, "emergencyAccessAvailable").and_then(Value::as_bool)
        == Some(true)
    {
        format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"emergency\" id=\"f-emergency\"{}> Emergency access (uses the emergency policy; use only when it cannot wait)</label>",
            if draft.emergency { " checked" } else { "" }
        )
    } else {
        String::new()
    };
    let steps: String = list(&p, "steps")
        .iter()
        .map(|s| format!("<li>{}</li>", esc(text(s, "description"))))
        .collect();
    let problem = problem.map(|m| ui::notice("error", m)).unwrap_or_default();
    let body = format!(
        "{problem}<div class=\"card\"><h2 id=\"request-name\">{}</h2><p>{}</p>\
{}<h3>What happens when you submit</h3><p>{}</p><p class=\"muted\">Policy: {}</p><ol id=\"policy-steps\">{steps}</ol></div>\
<form method=\"post\" action=\"/requests/new\" class=\"card\">{}{}{}\
{}{duration_field}{emergency}<div class=\"actions\"><button type=\"submit\">Submit</button><a href=\"/requests\">Cancel</a></div></form>",
        esc(&name),
        esc(&description),
        grants_summary(&p),
        policy_summary(&p),
        esc(text(&p, "policy.displayName")),
        ui::csrf(v),
        ui::hidden("app", app_id),
        ui::hidden("entitlement", ent_id),
        ui::text_area(
            "Justification (why you need this access)",
            "justification",
            &draft.justification,
            "maxlength=\"4096\""
        ),
    );
    let status = if problem.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Page::new(Section::Requests, "Request access", body)
        .status(status)
        .render(v)
}

/// `GET /requests/new?app=…&entitlement=…`.
pub async fn form(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let (app_id, ent_id) = (query(&raw, "app"), query(&raw, "entitlement"));
    let draft = Draft {
        justification: String::new(),
        duration_hours: String::new(),
        emergency: false,
    };
    render_form(&w, &v, &app_id, &ent_id, &draft, None).await
}

/// `POST /requests/new`.
pub async fn submit(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let (app_id, ent_id) = (f.get("app").to_string(), f.get("entitlement").to_string());
    let draft = Draft {
        justification: f.get("justification").to_string(),
        duration_hours: f.get("duration_hours").to_string(),
        emergency: f.checked("emergency"),
    };
    let mut body = json!({
        "appId": app_id,
        "appEntitlementId": ent_id,
        "description": draft.justification,
        "emergencyAccess": draft.emergency,
    });
    if !draft.duration_hours.is_empty() {
        match draft.duration_hours.parse::<u64>() {
            Ok(h) if h > 0 && h <= 24 * 366 => {
                body["grantDuration"] = json!(format!("{}s", h * 3600))
            }
            _ => {
                return render_form(
                    &w,
                    &v,
                    &app_id,
                    &ent_id,
                    &draft,
                    Some("Duration must be a whole number of hours from 1 to 8784, or empty."),
                )
                .await
            }
        }
    }
    match w.api.post(&v, "/api/v1/task/grant", body).await {
        Ok(t) => {
            let id = text(&t, "taskView.task.id");
            Redirect::to(&format!("/requests/{}?done=requested", enc(id))).into_response()
        }
        Err(e) => render_form(&w, &v, &app_id, &ent_id, &draft, Some(&e.message)).await,
    }
}
