//! An app's connectors: their sync status exactly as the API reports it, sync history with what
//! each sync changed, force sync, pause and resume, creating an upload connector, and uploading
//! a Baton `.c1z` or a CSV/TSV/XLSX file from the browser.
//!
//! The upload form posts `multipart/form-data` to `…/connectors/{id}/file`; the handler checks
//! the CSRF field (which the form sends before the file), then streams the file part straight
//! into the API's `…/c1z` or `…/file` handler, in process. The path ends in `/file` so the
//! server's outer layer gives it the upload size limit instead of the 4 MiB form limit.

use super::multipart::{self, Multipart};
use super::{app_page, load_app, num, status_of, Tab};
use crate::api::{self, enc, list, text, Refusal};
use crate::employee::query;
use crate::ui::{self, esc};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/apps/{app}/connectors", get(index).post(create))
        .route("/admin/apps/{app}/connectors/{id}", get(detail))
        .route("/admin/apps/{app}/connectors/{id}/sync", post(force_sync))
        .route("/admin/apps/{app}/connectors/{id}/pause", post(pause))
        .route("/admin/apps/{app}/connectors/{id}/resume", post(resume))
        .route("/admin/apps/{app}/connectors/{id}/file", post(upload))
}

fn api_path(app_id: &str, id: &str) -> String {
    format!("/api/v1/apps/{}/connectors/{}", enc(app_id), enc(id))
}

fn page_path(app_id: &str, id: &str) -> String {
    format!("/admin/apps/{}/connectors/{}", enc(app_id), enc(id))
}

/// A sync status as a badge with the API's own value beside it.
fn status_cell(status: &str) -> String {
    let (kind, words) = match status {
        "SYNC_STATUS_DONE" => ("ok", "Done"),
        "SYNC_STATUS_RUNNING" => ("warn", "Running"),
        "SYNC_STATUS_ERROR" => ("bad", "Error"),
        "SYNC_STATUS_DISABLED" => ("", "Paused"),
        _ => ("", "Never synced"),
    };
    let code = if status.is_empty() {
        "SYNC_STATUS_UNSPECIFIED"
    } else {
        status
    };
    format!(
        "{} <code class=\"sync-status\">{}</code>",
        ui::badge(kind, words),
        esc(code)
    )
}

/// `GET /admin/apps/{app}/connectors`.
pub async fn index(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    render_index(
        &w,
        &v,
        &app,
        &raw,
        ui::done_notice(&query(&raw, "done")),
        None,
    )
    .await
}

async fn render_index(
    w: &Web,
    v: &Viewer,
    app: &Value,
    raw: &Option<String>,
    mut notice: String,
    failed: Option<(&Refusal, &Form)>,
) -> Response {
    let app_id = text(app, "id");
    let found = w
        .api
        .get(
            v,
            &format!(
                "/api/v1/apps/{}/connectors?page_size=50&page_token={}",
                enc(app_id),
                enc(&query(raw, "page"))
            ),
        )
        .await;
    let mut status = StatusCode::OK;
    if let Some((e, _)) = failed {
        notice.push_str(&ui::notice("error", &e.message));
        status = status_of(e);
    }
    let mut content = String::new();
    match found {
        Err(e) => content.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|x| x.get("connector").unwrap_or(x))
                .map(|c| {
                    vec![
                        ui::link(&page_path(app_id, text(c, "id")), text(c, "displayName")),
                        esc(if api::at(c, "config").is_some() {
                            "Runs a Baton connector"
                        } else {
                            "Receives uploads"
                        }),
                        status_cell(text(c, "status.status")),
                        ui::when(text(c, "status.startedAt")),
                        ui::when(text(c, "status.completedAt")),
                        esc(text(c, "status.lastError")),
                    ]
                })
                .collect();
            content.push_str(&ui::table(
                "connectors",
                &[
                    "Connector",
                    "Kind",
                    "Sync status",
                    "Started",
                    "Completed",
                    "Last error",
                ],
                &rows,
                "This app has no connectors. Create one below to upload a .c1z or a CSV/XLSX file.",
            ));
            content.push_str(&ui::pager(
                &format!("/admin/apps/{}/connectors", enc(app_id)),
                text(&found, "nextPageToken"),
            ));
        }
    }
    let f = failed.map(|(_, f)| f);
    let val = |k: &str| f.map(|f| f.get(k)).unwrap_or("");
    content.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"new-connector\"><h2 id=\"new-connector\">Create an upload connector</h2>\
<p class=\"muted\">It receives this app's data from files you upload: a Baton <code>.c1z</code>, or a CSV, TSV or XLSX in C1's file-app template. Connectors that run a Baton binary are set up through the API (<code>config</code>, Super Admins only).</p>\
<form method=\"post\" action=\"/admin/apps/{}/connectors\">{}{}{}<div class=\"actions\"><button type=\"submit\">Create connector</button></div></form></section>",
        esc(&enc(app_id)),
        ui::csrf(v),
        ui::text_field("Name", "displayName", val("displayName"), "required maxlength=\"512\""),
        ui::text_area("Description", "description", val("description"), ""),
    ));
    app_page(v, app, Tab::Connectors, &notice, &content, status)
}

/// `POST /admin/apps/{app}/connectors` (form: displayName, description).
pub async fn create(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    f: Form,
) -> Response {
    let body = json!({"displayName": f.get("displayName"), "description": f.get("description")});
    match w
        .api
        .post(
            &v,
            &format!("/api/v1/apps/{}/connectors", enc(&app_id)),
            body,
        )
        .await
    {
        Ok(c) => Redirect::to(&format!(
            "{}?done=created",
            page_path(&app_id, text(&c, "connectorView.connector.id"))
        ))
        .into_response(),
        Err(e) => match load_app(&w, &v, &app_id).await {
            Ok(app) => render_index(&w, &v, &app, &None, String::new(), Some((&e, &f))).await,
            Err(r) => r,
        },
    }
}

/// `GET /admin/apps/{app}/connectors/{id}` (`?run=` highlights the counts of one sync).
pub async fn detail(
    State(w): State<Web>,
    v: Viewer,
    Path((app_id, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    render_detail(
        &w,
        &v,
        &app_id,
        &id,
        ui::done_notice(&query(&raw, "done")),
        None,
        &query(&raw, "run"),
    )
    .await
}

/// One kind's counts in words: `12 (+3, ~1, −2)`, changes only when there were any.
fn counts(c: &Value) -> String {
    let changes: Vec<String> = [("+", "added"), ("~", "changed"), ("−", "removed")]
        .iter()
        .filter(|(_, k)| num(c, k) > 0)
        .map(|(sign, k)| format!("{sign}{}", num(c, k)))
        .collect();
    if changes.is_empty() {
        num(c, "total").to_string()
    } else {
        format!(
            "{} <span class=\"muted\">({})</span>",
            num(c, "total"),
            changes.join(", ")
        )
    }
}

/// A duration in milliseconds in words.
fn took(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

const KINDS: &[(&str, &str)] = &[
    ("resourceTypes", "Resource types"),
    ("resources", "Resources"),
    ("appUsers", "Accounts"),
    ("entitlements", "Entitlements"),
    ("grants", "Grants"),
];

async fn render_detail(
    w: &Web,
    v: &Viewer,
    app_id: &str,
    id: &str,
    mut notice: String,
    failed: Option<&Refusal>,
    run_id: &str,
) -> Response {
    let app = match load_app(w, v, app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let path = api_path(app_id, id);
    let mut status = StatusCode::OK;
    if let Some(e) = failed {
        notice.push_str(&ui::notice("error", &e.message));
        status = status_of(e);
    }
    let c = match w.api.get(v, &path).await {
        Ok(c) => c
            .pointer("/connectorView/connector")
            .cloned()
            .unwrap_or(Value::Null),
        Err(e) => {
            notice.push_str(&ui::notice("error", &e.message));
            return app_page(v, &app, Tab::Connectors, &notice, "", status_of(&e));
        }
    };
    let base = page_path(app_id, id);
    let paused = !text(&c, "syncDisabledAt").is_empty();
    let mut content = format!(
        "<p><a href=\"/admin/apps/{}/connectors\">← All connectors</a></p><h2 id=\"connector-name\">{}</h2>",
        esc(&enc(app_id)),
        esc(text(&c, "displayName"))
    );
    let head_len = content.len();
    let paused_fact = if paused {
        format!(
            "<dt>Paused</dt><dd>{} {}</dd>",
            ui::when(text(&c, "syncDisabledAt")),
            esc(text(&c, "syncDisabledReason"))
        )
    } else {
        String::new()
    };
    content.push_str(&format!(
        "<section class=\"card\" aria-label=\"Sync status\"><dl class=\"facts\" id=\"connector-status\">\
<dt>Sync status</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd><dt>Completed</dt><dd>{}</dd><dt>Last error</dt><dd id=\"last-error\">{}</dd>{paused_fact}\
<dt>Kind</dt><dd>{}</dd><dt>ID</dt><dd class=\"mono\">{}</dd></dl><div class=\"actions\">{}{}</div></section>",
        status_cell(text(&c, "status.status")),
        ui::when(text(&c, "status.startedAt")),
        ui::when(text(&c, "status.completedAt")),
        esc(text(&c, "status.lastError")),
        if api::at(&c, "config").is_some() { "Runs a Baton connector" } else { "Receives uploads" },
        esc(text(&c, "id")),
        ui::action_button(v, &format!("{base}/sync"), "Sync now", "", ""),
        if paused {
            ui::action_button(v, &format!("{base}/resume"), "Resume syncs", "secondary", "")
        } else {
            ui::action_button(
                v,
                &format!("{base}/pause"),
                "Pause syncs",
                "secondary",
                "Pause this connector's syncs until resumed?",
            )
        },
    ));
    // The upload form: the CSRF field comes first so the server can check it before the file.
    content.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"upload\"><h2 id=\"upload\">Upload a file</h2>\
<p class=\"muted\">A Baton <code>.c1z</code> file, or a CSV, TSV or XLSX in C1's file-app template. It is imported as a sync of this app: what the file no longer lists is removed. A file with any error changes nothing.</p>\
<form method=\"post\" action=\"{}/file\" enctype=\"multipart/form-data\">{}<label for=\"f-file\">File (.c1z, .csv, .tsv or .xlsx)</label>\
<input id=\"f-file\" name=\"file\" type=\"file\" required accept=\".c1z,.csv,.tsv,.txt,.xlsx\"><div class=\"actions\"><button type=\"submit\">Upload and import</button></div></form></section>",
        esc(&base),
        ui::csrf(v),
    ));
    let runs = w.api.get(v, &format!("{path}/sync_runs")).await;
    match runs {
        Err(e) => content.push_str(&ui::notice("error", &e.message)),
        Ok(runs) => {
            let runs = list(&runs, "list");
            if let Some(run) = runs
                .iter()
                .find(|r| !run_id.is_empty() && text(r, "id") == run_id)
            {
                let rows: Vec<Vec<String>> = KINDS
                    .iter()
                    .map(|(k, label)| {
                        let c = run.pointer(&format!("/counts/{k}")).unwrap_or(&Value::Null);
                        vec![
                            esc(label),
                            num(c, "total").to_string(),
                            num(c, "added").to_string(),
                            num(c, "changed").to_string(),
                            num(c, "removed").to_string(),
                        ]
                    })
                    .collect();
                content.insert_str(
                    head_len,
                    &format!(
                        "<section class=\"card\" aria-labelledby=\"run-counts\"><h2 id=\"run-counts\">What the upload changed</h2>{}</section>",
                        ui::table("upload-counts", &["Kind", "In the file", "Added", "Changed", "Removed"], &rows, "")
                    ),
                );
            }
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|r| {
                    let counts = if text(r, "status") == "SYNC_STATUS_ERROR" {
                        "<span class=\"muted\">Nothing changed</span>".to_string()
                    } else {
                        let items: String = KINDS
                            .iter()
                            .map(|(k, label)| {
                                format!(
                                    "<li>{}: {}</li>",
                                    esc(label),
                                    counts(
                                        r.pointer(&format!("/counts/{k}")).unwrap_or(&Value::Null)
                                    )
                                )
                            })
                            .collect();
                        format!("<ul class=\"counts\">{items}</ul>")
                    };
                    vec![
                        ui::when(text(r, "startedAt")),
                        ui::when(text(r, "completedAt")),
                        status_cell(text(r, "status")),
                        took(num(r, "durationMs")),
                        counts,
                        esc(text(r, "lastError")),
                    ]
                })
                .collect();
            content.push_str("<h2>Sync history</h2>");
            content.push_str(&ui::table(
                "sync-runs",
                &["Started", "Completed", "Status", "Took", "Counts", "Error"],
                &rows,
                "No syncs yet. Upload a file above to run the first one.",
            ));
        }
    }
    app_page(v, &app, Tab::Connectors, &notice, &content, status)
}

async fn act(w: &Web, v: &Viewer, app_id: &str, id: &str, what: &str, done: &str) -> Response {
    match w
        .api
        .post(v, &format!("{}/{what}", api_path(app_id, id)), json!({}))
        .await
    {
        Ok(_) => Redirect::to(&format!("{}?done={done}", page_path(app_id, id))).into_response(),
        Err(e) => render_detail(w, v, app_id, id, String::new(), Some(&e), "").await,
    }
}

/// `POST …/connectors/{id}/sync`.
pub async fn force_sync(
    State(w): State<Web>,
    v: Viewer,
    Path((app_id, id)): Path<(String, String)>,
    _f: Form,
) -> Response {
    act(&w, &v, &app_id, &id, "force_sync", "synced").await
}

/// `POST …/connectors/{id}/pause`.
pub async fn pause(
    State(w): State<Web>,
    v: Viewer,
    Path((app_id, id)): Path<(String, String)>,
    _f: Form,
) -> Response {
    act(&w, &v, &app_id, &id, "pause", "paused").await
}

/// `POST …/connectors/{id}/resume`.
pub async fn resume(
    State(w): State<Web>,
    v: Viewer,
    Path((app_id, id)): Path<(String, String)>,
    _f: Form,
) -> Response {
    act(&w, &v, &app_id, &id, "resume", "sync-resumed").await
}

/// `POST …/connectors/{id}/file` (multipart form: csrf, then file): imports the file.
pub async fn upload(
    State(w): State<Web>,
    v: Viewer,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let fail = |message: String| Refusal {
        status: 400,
        message,
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = multipart::boundary(ct) else {
        let e = fail("Send the upload form with a file chosen.".into());
        return render_detail(&w, &v, &app_id, &id, String::new(), Some(&e), "").await;
    };
    let mut m = Multipart::new(body, &boundary);
    let mut csrf_checked = false;
    let outcome = loop {
        let part = match m.next_part().await {
            Ok(Some(p)) => p,
            Ok(None) => break Err(fail("Choose a file to upload.".into())),
            Err(e) => break Err(fail(e.0)),
        };
        match part.name.as_str() {
            "csrf" => {
                let token = match m.text(1024).await {
                    Ok(t) => t,
                    Err(e) => break Err(fail(e.0)),
                };
                if let Err(r) =
                    chamberlain_api::oauth::session::check_csrf(&w.shared, &headers, token.trim())
                {
                    return r;
                }
                csrf_checked = true;
            }
            "file" => {
                if !csrf_checked {
                    // The standard refusal of a form without its token.
                    if let Err(r) =
                        chamberlain_api::oauth::session::check_csrf(&w.shared, &headers, "")
                    {
                        return r;
                    }
                }
                let name = part.filename.unwrap_or_default();
                if name.is_empty() {
                    break Err(fail("Choose a file to upload.".into()));
                }
                let lower = name.to_ascii_lowercase();
                let (kind, content_type) = if lower.ends_with(".c1z") {
                    ("c1z", "application/octet-stream")
                } else if lower.ends_with(".xlsx") {
                    (
                        "file",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    )
                } else {
                    ("file", "text/csv")
                };
                let path = format!("{}/{kind}", api_path(&app_id, &id));
                let stream = Body::from_stream(m.into_stream());
                break w
                    .api
                    .upload(&v, &path, content_type, stream)
                    .await
                    .map_err(|e| Refusal {
                        status: e.status,
                        message: format!("“{name}” was not imported: {}", e.message),
                    });
            }
            _ => {
                if let Err(e) = m.text(64 * 1024).await {
                    break Err(fail(e.0));
                }
            }
        }
    };
    match outcome {
        Ok(r) => Redirect::to(&format!(
            "{}?done=uploaded&run={}",
            page_path(&app_id, &id),
            enc(text(&r, "syncRun.id"))
        ))
        .into_response(),
        Err(e) => render_detail(&w, &v, &app_id, &id, String::new(), Some(&e), "").await,
    }
}
