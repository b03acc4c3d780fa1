//! Admin > System log: the audit trail (`POST /api/v1/systemlog/events`) with the filters the
//! API takes (actor, object id, object type, time range, order), a page at a time, each event's
//! before and after readable as pretty JSON with the changed fields named.

use super::apps::{refused, status_of, user_by_email};
use crate::api::{enc, list, text, Refusal};
use crate::employee::query;
use crate::ui::{self, esc, Page, Section};
use crate::viewer::Viewer;
use crate::Web;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/system-log", get(page))
}

/// Events per page.
const PAGE_SIZE: u32 = 50;

/// Largest before/after JSON shown per event side (bigger ones are cut with a note).
const MAX_JSON: usize = 20_000;

/// Object types the log records (suggestions; any type can be typed).
const KINDS: &[&str] = &[
    "app",
    "app entitlement",
    "app resource",
    "app resource type",
    "app user",
    "connector",
    "connector sync",
    "user",
    "directory",
    "policy",
    "request catalog",
    "webhook",
    "api client",
    "MCP server",
    "MCP tool",
    "MCP toolset",
];

/// A `datetime-local` value (`2026-01-31T09:30`, read as UTC) as an RFC 3339 timestamp.
fn timestamp(label: &str, v: &str) -> Result<Option<String>, Refusal> {
    if v.is_empty() {
        return Ok(None);
    }
    let ok = v.len() >= 16
        && v.as_bytes()[4] == b'-'
        && v.as_bytes()[10] == b'T'
        && v.as_bytes()[13] == b':'
        && v.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'T' | b':' | b'.'));
    if !ok {
        return Err(Refusal {
            status: 400,
            message: format!("{label} `{v}` is not a date and time like 2026-01-31T09:30."),
        });
    }
    Ok(Some(if v.len() == 16 {
        format!("{v}:00Z")
    } else {
        format!("{v}Z")
    }))
}

/// Top-level fields whose values differ between `before` and `after`.
fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| k.to_string())
        .collect()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    if s.len() > MAX_JSON {
        let mut cut = MAX_JSON;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n… (cut here; read the whole event through the API)");
    }
    esc(&s)
}

fn details(e: &Value) -> String {
    let before = e.pointer("/entity/data").unwrap_or(&Value::Null);
    let after = e.pointer("/entity_result/data").unwrap_or(&Value::Null);
    let changed = changed_fields(before, after);
    let summary = match (before.is_null(), after.is_null()) {
        (true, true) => return "<span class=\"muted\">No data</span>".into(),
        (true, false) => "After".to_string(),
        (false, true) => "Before".to_string(),
        (false, false) if changed.is_empty() => "Before and after".to_string(),
        (false, false) => format!("Changed: {}", changed.join(", ")),
    };
    let side = |label: &str, v: &Value| {
        if v.is_null() {
            String::new()
        } else {
            format!(
                "<h3>{label}</h3><pre class=\"json\" tabindex=\"0\">{}</pre>",
                pretty(v)
            )
        }
    };
    format!(
        "<details class=\"event\"><summary>{}</summary>{}{}</details>",
        esc(&summary),
        side("Before", before),
        side("After", after)
    )
}

/// `GET /admin/system-log` (query: actor, object, type, since, until, order, page).
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let actor = query(&raw, "actor").trim().to_string();
    let object = query(&raw, "object").trim().to_string();
    let kind = query(&raw, "type").trim().to_string();
    let since = query(&raw, "since");
    let until = query(&raw, "until");
    let order = query(&raw, "order");
    let mut notice = String::new();
    let mut status = axum::http::StatusCode::OK;

    // The filter form, always shown with what was asked.
    let kinds: String = KINDS
        .iter()
        .map(|k| format!("<option value=\"{}\">", esc(k)))
        .collect();
    let form = format!(
        "<form method=\"get\" action=\"/admin/system-log\" class=\"card filters-form\" role=\"search\" aria-label=\"Filter events\"><div class=\"filters\">\
<div>{actor}</div><div>{object}</div><div>{kind}<datalist id=\"kinds\">{kinds}</datalist></div>\
<div>{since}</div><div>{until}</div><div>{order}</div></div>\
<div class=\"actions\"><button type=\"submit\">Show events</button> <a href=\"/admin/system-log\">Clear filters</a></div></form>",
        actor = ui::text_field("Actor (email or user ID)", "actor", &actor, "autocomplete=\"off\""),
        object = ui::text_field("Object ID", "object", &object, "autocomplete=\"off\""),
        kind = ui::text_field("Object type", "type", &kind, "list=\"kinds\" autocomplete=\"off\""),
        since = ui::text_field("From (UTC)", "since", &since, "type=\"datetime-local\""),
        until = ui::text_field("Until (UTC)", "until", &until, "type=\"datetime-local\""),
        order = ui::select(
            "Order",
            "order",
            &[("".into(), "Newest first".into()), ("oldest".into(), "Oldest first".into())],
            &order,
        ),
    );

    let request = async {
        let actor_id = if actor.contains('@') {
            user_by_email(&w, &v, &actor).await?
        } else {
            actor.clone()
        };
        let mut body = json!({
            "pageSize": PAGE_SIZE,
            "pageToken": query(&raw, "page"),
            "sortDirection": if order == "oldest" { "SORT_DIRECTION_ASC" } else { "SORT_DIRECTION_DESC" },
            "actorUserId": actor_id,
            "objectId": object,
            "objectType": kind,
        });
        if let Some(t) = timestamp("From", &since)? {
            body["since"] = json!(t);
        }
        if let Some(t) = timestamp("Until", &until)? {
            body["until"] = json!(t);
        }
        w.api.post(&v, "/api/v1/systemlog/events", body).await
    };
    let found = match request.await {
        Ok(f) => f,
        Err(e) if e.status == 403 || e.status == 401 => {
            return refused(&v, Section::SystemLog, "System log", &e)
        }
        Err(e) => {
            notice = ui::notice("error", &e.message);
            status = status_of(&e);
            json!({"list": []})
        }
    };
    let events = list(&found, "list");

    // Actors' names, in one bounded search.
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|e| text(e, "actor.user.uid"))
        .filter(|id| !id.is_empty())
        .collect();
    let names: HashMap<String, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        match w
            .api
            .post(
                &v,
                "/api/v1/search/users",
                json!({"ids": ids, "pageSize": 100}),
            )
            .await
        {
            Ok(f) => list(&f, "list")
                .iter()
                .map(|x| x.get("user").unwrap_or(x))
                .map(|u| {
                    let n = if text(u, "displayName").is_empty() {
                        text(u, "email")
                    } else {
                        text(u, "displayName")
                    };
                    (text(u, "id").to_string(), n.to_string())
                })
                .collect(),
            Err(_) => HashMap::new(),
        }
    };

    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let uid = text(e, "actor.user.uid");
            let actor = if uid.is_empty() {
                "<span class=\"muted\">The server</span>".to_string()
            } else {
                ui::link(
                    &format!("/admin/system-log?actor={}", enc(uid)),
                    names.get(uid).map(String::as_str).unwrap_or(uid),
                )
            };
            let kind = text(e, "entity.type");
            let oid = text(e, "entity.uid");
            let object = match kind {
                "app" => ui::link(&format!("/admin/apps/{}", enc(oid)), oid),
                "user" => ui::link(&format!("/admin/users/{}", enc(oid)), oid),
                _ => ui::link(&format!("/admin/system-log?object={}", enc(oid)), oid),
            };
            vec![
                ui::when(text(e, "time_dt")),
                actor,
                esc(text(e, "activity_name")),
                esc(kind),
                format!("<span class=\"mono\">{object}</span>"),
                details(e),
            ]
        })
        .collect();
    let filtered = [&actor, &object, &kind, &since, &until]
        .iter()
        .any(|s| !s.is_empty());
    let empty = if filtered {
        "No event matches these filters."
    } else {
        "The log is empty."
    };
    let mut body = format!("{form}{notice}");
    body.push_str(&ui::table(
        "events",
        &[
            "Time",
            "Actor",
            "Action",
            "Object type",
            "Object",
            "Details",
        ],
        &rows,
        empty,
    ));
    let mut base = String::from("/admin/system-log");
    let params: Vec<String> = [
        ("actor", &actor),
        ("object", &object),
        ("type", &kind),
        ("since", &since),
        ("until", &until),
        ("order", &order),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}={}", enc(v)))
    .collect();
    if !params.is_empty() {
        base.push('?');
        base.push_str(&params.join("&"));
    }
    body.push_str(&ui::pager(&base, text(&found, "nextPageToken")));
    Page::new(Section::SystemLog, "System log", body)
        .status(status)
        .render(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_become_utc_timestamps() {
        assert_eq!(
            timestamp("From", "2026-01-31T09:30").unwrap().as_deref(),
            Some("2026-01-31T09:30:00Z")
        );
        assert_eq!(timestamp("From", "").unwrap(), None);
        assert!(timestamp("From", "yesterday").is_err());
    }

    #[test]
    fn changed_fields_are_named() {
        let b = json!({"displayName": "A", "description": "x", "id": "1"});
        let a = json!({"displayName": "B", "description": "x", "id": "1"});
        assert_eq!(changed_fields(&b, &a), vec!["displayName".to_string()]);
    }
}
