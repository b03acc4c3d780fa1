//! Admin > Apps: the app list with search and create, and an app's pages (overview with edit,
//! resource types and their resources, entitlements with their grants, accounts, owners and
//! connectors — see [`connectors`] for sync status, history and uploads).

mod connectors;
mod multipart;

use crate::api::{self, enc, list, text, Refusal};
use crate::employee::query;
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/apps", get(index).post(create))
        .route("/admin/apps/{app}", get(overview).post(update))
        .route("/admin/apps/{app}/resource-types", get(resource_types))
        .route("/admin/apps/{app}/resource-types/{rt}", get(resources))
        .route(
            "/admin/apps/{app}/entitlements",
            get(entitlements).post(create_entitlement),
        )
        .route("/admin/apps/{app}/entitlements/{ent}", get(entitlement))
        .route("/admin/apps/{app}/accounts", get(accounts))
        .route("/admin/apps/{app}/owners", get(owners).post(add_owner))
        .route("/admin/apps/{app}/owners/{user}/remove", post(remove_owner))
        .merge(connectors::routes())
}

/// Rows per page of the admin lists.
pub(super) const PAGE_SIZE: u32 = 25;

/// A number the API writes as a JSON number or (int64) string.
pub(super) fn num(v: &Value, path: &str) -> i64 {
    match api::at(v, path) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// The HTTP status a refusal is shown with.
pub(super) fn status_of(e: &Refusal) -> StatusCode {
    StatusCode::from_u16(e.status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::BAD_REQUEST)
}

/// A page that only says what the API refused.
pub(super) fn refused(v: &Viewer, section: Section, title: &str, e: &Refusal) -> Response {
    Page::new(section, title, ui::notice("error", &e.message))
        .status(status_of(e))
        .render(v)
}

/// `base` with `q` (when not empty) as its query, for pagers.
pub(super) fn with_q(base: &str, q: &str) -> String {
    if q.is_empty() {
        base.to_string()
    } else {
        format!("{base}?q={}", enc(q))
    }
}

/// Which tab of an app is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Tab {
    Overview,
    ResourceTypes,
    Entitlements,
    Accounts,
    Owners,
    Connectors,
}

/// An app's page: its name, description and tabs around `content`.
pub(super) fn app_page(
    v: &Viewer,
    app: &Value,
    tab: Tab,
    notice: &str,
    content: &str,
    status: StatusCode,
) -> Response {
    let id = text(app, "id");
    let base = format!("/admin/apps/{}", enc(id));
    let tabs: String = [
        (Tab::Overview, "", "Overview"),
        (Tab::ResourceTypes, "/resource-types", "Resource types"),
        (Tab::Entitlements, "/entitlements", "Entitlements"),
        (Tab::Accounts, "/accounts", "Accounts"),
        (Tab::Owners, "/owners", "Owners"),
        (Tab::Connectors, "/connectors", "Connectors"),
    ]
    .iter()
    .map(|(t, suffix, label)| {
        let cur = if *t == tab {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!("<a href=\"{}{suffix}\"{cur}>{label}</a>", esc(&base))
    })
    .collect();
    let desc = text(app, "description");
    let desc = if desc.is_empty() {
        String::new()
    } else {
        format!("<p class=\"muted\">{}</p>", esc(desc))
    };
    let body = format!(
        "<p><a href=\"/admin/apps\">← All apps</a></p>{desc}<nav class=\"tabs\" aria-label=\"App sections\">{tabs}</nav>{notice}{content}"
    );
    let name = text(app, "displayName");
    Page::new(
        Section::Apps,
        if name.is_empty() { "App" } else { name },
        body,
    )
    .status(status)
    .render(v)
}

/// Loads an app for its page, or the page that says why not.
pub(super) async fn load_app(w: &Web, v: &Viewer, app_id: &str) -> Result<Value, Response> {
    match w.api.get(v, &format!("/api/v1/apps/{}", enc(app_id))).await {
        Ok(a) => Ok(a.get("app").cloned().unwrap_or(Value::Null)),
        Err(e) => Err(refused(v, Section::Apps, "App", &e)),
    }
}

fn field<'a>(f: Option<&'a Form>, k: &str) -> &'a str {
    f.map(|f| f.get(k)).unwrap_or("")
}

/// `GET /admin/apps`.
pub async fn index(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    render_index(&w, &v, &raw, ui::done_notice(&query(&raw, "done")), None).await
}

async fn render_index(
    w: &Web,
    v: &Viewer,
    raw: &Option<String>,
    notice: String,
    failed: Option<(&Refusal, &Form)>,
) -> Response {
    let q = query(raw, "q");
    let found = w
        .api
        .post(
            v,
            "/api/v1/search/apps",
            json!({"query": q, "pageSize": PAGE_SIZE, "pageToken": query(raw, "page")}),
        )
        .await;
    let mut body = notice;
    let mut status = StatusCode::OK;
    if let Some((e, _)) = failed {
        body.push_str(&ui::notice("error", &e.message));
        status = status_of(e);
    }
    body.push_str(&ui::search_form(
        "/admin/apps",
        &q,
        "Search apps by name",
        "",
    ));
    match found {
        Err(e) if matches!(e.status, 401 | 403) => return refused(v, Section::Apps, "Apps", &e),
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|a| {
                    let owners: Vec<String> = list(a, "appOwners")
                        .iter()
                        .map(|u| {
                            let n = text(u, "displayName");
                            esc(if n.is_empty() { text(u, "email") } else { n })
                        })
                        .collect();
                    let kind = if a.get("isDirectory").and_then(Value::as_bool) == Some(true) {
                        ui::badge("ok", "Directory")
                    } else {
                        String::new()
                    };
                    vec![
                        format!(
                            "{} {kind}",
                            ui::link(
                                &format!("/admin/apps/{}", enc(text(a, "id"))),
                                text(a, "displayName")
                            )
                        ),
                        esc(text(a, "description")),
                        num(a, "userCount").to_string(),
                        owners.join(", "),
                    ]
                })
                .collect();
            let empty = if q.is_empty() {
                "No apps yet. Create one below, then add a connector to bring in its accounts and access."
            } else {
                "No app matches this search."
            };
            body.push_str(&ui::table(
                "apps",
                &["App", "Description", "Users with access", "Owners"],
                &rows,
                empty,
            ));
            body.push_str(&ui::pager(
                &with_q("/admin/apps", &q),
                text(&found, "nextPageToken"),
            ));
        }
    }
    let f = failed.map(|(_, f)| f);
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"new-app\"><h2 id=\"new-app\">Create an app</h2>\
<form method=\"post\" action=\"/admin/apps\">{}{}{}<div class=\"actions\"><button type=\"submit\">Create app</button></div></form></section>",
        ui::csrf(v),
        ui::text_field("Name", "displayName", field(f, "displayName"), "required maxlength=\"512\""),
        ui::text_area("Description", "description", field(f, "description"), ""),
    ));
    Page::new(Section::Apps, "Apps", body)
        .status(status)
        .render(v)
}

/// `POST /admin/apps` (form: displayName, description).
pub async fn create(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let body = json!({"displayName": f.get("displayName"), "description": f.get("description")});
    match w.api.post(&v, "/api/v1/apps", body).await {
        Ok(a) => Redirect::to(&format!(
            "/admin/apps/{}?done=created",
            enc(text(&a, "app.id"))
        ))
        .into_response(),
        Err(e) => render_index(&w, &v, &None, String::new(), Some((&e, &f))).await,
    }
}

/// `GET /admin/apps/{app}`: facts and the edit form.
pub async fn overview(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    render_overview(&v, &app, ui::done_notice(&query(&raw, "done")), None)
}

fn render_overview(v: &Viewer, app: &Value, notice: String, failed: Option<&Refusal>) -> Response {
    let id = text(app, "id");
    let yes = |k: &str| app.get(k).and_then(Value::as_bool) == Some(true);
    let mut facts = format!(
        "<dl class=\"facts\" id=\"app-facts\"><dt>ID</dt><dd class=\"mono\">{}</dd><dt>Users with access</dt><dd>{}</dd><dt>Directory</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd><dt>Updated</dt><dd>{}</dd></dl>",
        esc(id),
        num(app, "userCount"),
        if yes("isDirectory") { "Yes: its accounts feed the user directory" } else { "No" },
        ui::when(text(app, "createdAt")),
        ui::when(text(app, "updatedAt")),
    );
    facts = format!("<section class=\"card\" aria-label=\"About this app\">{facts}</section>");
    let notice = match failed {
        Some(e) => format!("{notice}{}", ui::notice("error", &e.message)),
        None => notice,
    };
    let form = format!(
        "<section class=\"card\" aria-labelledby=\"edit-app\"><h2 id=\"edit-app\">Edit</h2><form method=\"post\" action=\"/admin/apps/{}\">{}{}{}<div class=\"actions\"><button type=\"submit\">Save</button></div></form></section>",
        esc(&enc(id)),
        ui::csrf(v),
        ui::text_field("Name", "displayName", text(app, "displayName"), "required maxlength=\"512\""),
        ui::text_area("Description", "description", text(app, "description"), ""),
    );
    let status = failed.map(status_of).unwrap_or(StatusCode::OK);
    app_page(
        v,
        app,
        Tab::Overview,
        &notice,
        &format!("{facts}{form}"),
        status,
    )
}

/// `POST /admin/apps/{app}` (form: displayName, description).
pub async fn update(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    f: Form,
) -> Response {
    let body = json!({
        "app": {"displayName": f.get("displayName"), "description": f.get("description")},
        "updateMask": "displayName,description",
    });
    match w
        .api
        .post(&v, &format!("/api/v1/apps/{}", enc(&app_id)), body)
        .await
    {
        Ok(_) => Redirect::to(&format!("/admin/apps/{}?done=saved", enc(&app_id))).into_response(),
        Err(e) => match load_app(&w, &v, &app_id).await {
            Ok(app) => render_overview(&v, &app, String::new(), Some(&e)),
            Err(r) => r,
        },
    }
}

/// `GET /admin/apps/{app}/resource-types`.
pub async fn resource_types(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let base = format!("/admin/apps/{}/resource-types", enc(&app_id));
    let found = w
        .api
        .get(
            &v,
            &format!(
                "/api/v1/apps/{}/resource_types?page_size=50&page_token={}",
                enc(&app_id),
                enc(&query(&raw, "page"))
            ),
        )
        .await;
    let content = match found {
        Err(e) => ui::notice("error", &e.message),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|x| x.get("appResourceType").unwrap_or(x))
                .map(|t| {
                    vec![
                        ui::link(
                            &format!("{base}/{}", enc(text(t, "id"))),
                            text(t, "displayName"),
                        ),
                        esc(&list(t, "traitIds")
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")),
                        format!("<span class=\"mono\">{}</span>", esc(text(t, "id"))),
                    ]
                })
                .collect();
            format!(
                "{}{}",
                ui::table(
                    "resource-types",
                    &["Resource type", "Traits", "ID"],
                    &rows,
                    "This app has no resource types yet. A sync or an uploaded file brings them in.",
                ),
                ui::pager(&base, text(&found, "nextPageToken"))
            )
        }
    };
    app_page(&v, &app, Tab::ResourceTypes, "", &content, StatusCode::OK)
}

/// `GET /admin/apps/{app}/resource-types/{rt}`: the type's resources.
pub async fn resources(
    State(w): State<Web>,
    v: Viewer,
    Path((app_id, rt)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let type_path = format!("/api/v1/apps/{}/resource_types/{}", enc(&app_id), enc(&rt));
    let t = match w.api.get(&v, &type_path).await {
        Ok(t) => t,
        Err(e) => {
            return app_page(
                &v,
                &app,
                Tab::ResourceTypes,
                &ui::notice("error", &e.message),
                "",
                status_of(&e),
            )
        }
    };
    let type_name = text(&t, "appResourceType.displayName").to_string();
    let found = w
        .api
        .get(
            &v,
            &format!(
                "{type_path}/resources?page_size=50&page_token={}",
                enc(&query(&raw, "page"))
            ),
        )
        .await;
    let base = format!("/admin/apps/{}/resource-types/{}", enc(&app_id), enc(&rt));
    let mut content = format!(
        "<h2>{}</h2><p><a href=\"/admin/apps/{}/resource-types\">← All resource types</a></p>",
        esc(&type_name),
        esc(&enc(&app_id))
    );
    match found {
        Err(e) => content.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|x| x.get("appResource").unwrap_or(x))
                .map(|r| {
                    vec![
                        esc(text(r, "displayName")),
                        esc(text(r, "description")),
                        num(r, "grantCount").to_string(),
                        format!("<span class=\"mono\">{}</span>", esc(text(r, "id"))),
                    ]
                })
                .collect();
            content.push_str(&ui::table(
                "resources",
                &["Resource", "Description", "Grants", "ID"],
                &rows,
                "No resources of this type.",
            ));
            content.push_str(&ui::pager(&base, text(&found, "nextPageToken")));
        }
    }
    app_page(&v, &app, Tab::ResourceTypes, "", &content, StatusCode::OK)
}

/// `GET /admin/apps/{app}/entitlements`.
pub async fn entitlements(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    render_entitlements(
        &w,
        &v,
        &app,
        &raw,
        ui::done_notice(&query(&raw, "done")),
        None,
    )
    .await
}

async fn render_entitlements(
    w: &Web,
    v: &Viewer,
    app: &Value,
    raw: &Option<String>,
    mut notice: String,
    failed: Option<(&Refusal, &Form)>,
) -> Response {
    let app_id = text(app, "id");
    let base = format!("/admin/apps/{}/entitlements", enc(app_id));
    let q = query(raw, "q");
    let found = w
        .api
        .post(
            v,
            "/api/v1/search/entitlements",
            json!({"appIds": [app_id], "query": q, "pageSize": PAGE_SIZE, "pageToken": query(raw, "page")}),
        )
        .await;
    let mut status = StatusCode::OK;
    if let Some((e, _)) = failed {
        notice.push_str(&ui::notice("error", &e.message));
        status = status_of(e);
    }
    let mut content = ui::search_form(&base, &q, "Search entitlements", "");
    match found {
        Err(e) => content.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|x| x.get("appEntitlement").unwrap_or(x))
                .map(|e| {
                    let managed = if e
                        .get("sourceConnectorIds")
                        .and_then(Value::as_object)
                        .is_some_and(|m| !m.is_empty())
                    {
                        "From a connector"
                    } else {
                        "Managed here"
                    };
                    vec![
                        ui::link(
                            &format!("{base}/{}", enc(text(e, "id"))),
                            text(e, "displayName"),
                        ),
                        esc(text(e, "description")),
                        esc(managed),
                        num(e, "grantCount").to_string(),
                        {
                            let d = ui::duration(text(e, "durationGrant"));
                            if d.is_empty() {
                                "Until removed".into()
                            } else {
                                esc(&d)
                            }
                        },
                    ]
                })
                .collect();
            let empty = if q.is_empty() {
                "This app has no entitlements yet. Create one below, or bring them in with a connector."
            } else {
                "No entitlement matches this search."
            };
            content.push_str(&ui::table(
                "entitlements",
                &[
                    "Entitlement",
                    "Description",
                    "Source",
                    "Grants",
                    "Grant length",
                ],
                &rows,
                empty,
            ));
            content.push_str(&ui::pager(
                &with_q(&base, &q),
                text(&found, "nextPageToken"),
            ));
        }
    }
    let f = failed.map(|(_, f)| f);
    content.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"new-ent\"><h2 id=\"new-ent\">Create an entitlement</h2>\
<p class=\"muted\">Managed here: grants are added and removed in Chamberlain, not by a connector.</p>\
<form method=\"post\" action=\"{}\">{}{}{}{}{}<div class=\"actions\"><button type=\"submit\">Create entitlement</button></div></form></section>",
        esc(&base),
        ui::csrf(v),
        ui::text_field("Name", "displayName", field(f, "displayName"), "required maxlength=\"512\""),
        ui::text_area("Description", "description", field(f, "description"), ""),
        ui::text_field("Slug (optional)", "slug", field(f, "slug"), "maxlength=\"200\""),
        ui::text_field(
            "Grant length in hours (empty: until removed)",
            "hours",
            field(f, "hours"),
            "type=\"number\" min=\"1\" step=\"1\" inputmode=\"numeric\""
        ),
    ));
    app_page(v, app, Tab::Entitlements, &notice, &content, status)
}

/// `POST /admin/apps/{app}/entitlements` (form: displayName, description, slug, hours).
pub async fn create_entitlement(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    f: Form,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut body = json!({
        "displayName": f.get("displayName"),
        "description": f.get("description"),
        "slug": f.get("slug"),
    });
    let hours = f.get("hours");
    if !hours.is_empty() {
        match hours.parse::<u64>() {
            Ok(h) if h > 0 => body["durationGrant"] = json!(format!("{}s", h * 3600)),
            _ => {
                let e = Refusal {
                    status: 400,
                    message: format!(
                        "Grant length `{hours}` must be a whole number of hours, 1 or more."
                    ),
                };
                return render_entitlements(&w, &v, &app, &None, String::new(), Some((&e, &f)))
                    .await;
            }
        }
    }
    match w
        .api
        .post(
            &v,
            &format!("/api/v1/apps/{}/entitlements", enc(&app_id)),
            body,
        )
        .await
    {
        Ok(r) => Redirect::to(&format!(
            "/admin/apps/{}/entitlements/{}?done=created",
            enc(&app_id),
            enc(text(&r, "appEntitlementView.appEntitlement.id"))
        ))
        .into_response(),
        Err(e) => render_entitlements(&w, &v, &app, &None, String::new(), Some((&e, &f))).await,
    }
}

/// `GET /admin/apps/{app}/entitlements/{ent}`: the entitlement and its grants (current and
/// ended ones).
pub async fn entitlement(
    State(w): State<Web>,
    v: Viewer,
    Path((app_id, ent_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let path = format!(
        "/api/v1/apps/{}/entitlements/{}",
        enc(&app_id),
        enc(&ent_id)
    );
    let ent = match w.api.get(&v, &path).await {
        Ok(e) => e,
        Err(e) => {
            return app_page(
                &v,
                &app,
                Tab::Entitlements,
                &ui::notice("error", &e.message),
                "",
                status_of(&e),
            )
        }
    };
    let e = api::at(&ent, "appEntitlementView.appEntitlement").unwrap_or(&Value::Null);
    let length = ui::duration(text(e, "durationGrant"));
    let mut content = format!(
        "<p><a href=\"/admin/apps/{app}/entitlements\">← All entitlements</a></p><h2 id=\"entitlement-name\">{name}</h2>\
<section class=\"card\" aria-label=\"About this entitlement\"><dl class=\"facts\"><dt>Description</dt><dd>{desc}</dd><dt>Slug</dt><dd class=\"mono\">{slug}</dd><dt>Grant length</dt><dd>{length}</dd><dt>Current grants</dt><dd>{count}</dd><dt>ID</dt><dd class=\"mono\">{id}</dd></dl></section>",
        app = esc(&enc(&app_id)),
        name = esc(text(e, "displayName")),
        desc = esc(text(e, "description")),
        slug = esc(text(e, "slug")),
        length = if length.is_empty() { "Until removed".to_string() } else { esc(&length) },
        count = num(e, "grantCount"),
        id = esc(text(e, "id")),
    );
    content.push_str("<h2>Grants</h2>");
    let found = w
        .api
        .get(
            &v,
            &format!(
                "{path}/grants?page_size={PAGE_SIZE}&page_token={}",
                enc(&query(&raw, "page"))
            ),
        )
        .await;
    match found {
        Err(e) => content.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|g| {
                    let account = api::at(g, "appUser").unwrap_or(&Value::Null);
                    let acct = if text(account, "displayName").is_empty() {
                        text(account, "email")
                    } else {
                        text(account, "displayName")
                    };
                    let user = match api::at(g, "user") {
                        Some(u) => ui::link(
                            &format!("/admin/users/{}", enc(text(u, "id"))),
                            if text(u, "displayName").is_empty() {
                                text(u, "email")
                            } else {
                                text(u, "displayName")
                            },
                        ),
                        None => "<span class=\"muted\">Not linked</span>".into(),
                    };
                    let source = if list(g, "grantSources").is_empty() {
                        "Direct".to_string()
                    } else {
                        format!("Through {} other grant(s)", list(g, "grantSources").len())
                    };
                    let state = if text(g, "expired").is_empty() {
                        ui::badge("ok", "Current")
                    } else {
                        format!(
                            "{} {}",
                            ui::badge("", "Ended"),
                            ui::when(text(g, "expired"))
                        )
                    };
                    vec![
                        esc(if acct.is_empty() {
                            text(g, "appUserId")
                        } else {
                            acct
                        }),
                        user,
                        esc(&source),
                        ui::when(text(g, "discovered")),
                        state,
                    ]
                })
                .collect();
            content.push_str(&ui::table(
                "grants",
                &["Account", "User", "Source", "Since", "State"],
                &rows,
                "Nobody holds this entitlement.",
            ));
            content.push_str(&ui::pager(
                &format!("/admin/apps/{}/entitlements/{}", enc(&app_id), enc(&ent_id)),
                text(&found, "nextPageToken"),
            ));
        }
    }
    app_page(
        &v,
        &app,
        Tab::Entitlements,
        &ui::done_notice(&query(&raw, "done")),
        &content,
        StatusCode::OK,
    )
}

/// `GET /admin/apps/{app}/accounts`: the app's accounts (app users), with search.
pub async fn accounts(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let base = format!("/admin/apps/{}/accounts", enc(&app_id));
    let q = query(&raw, "q");
    let found = w
        .api
        .post(
            &v,
            "/api/v1/search/app_users",
            json!({"appId": app_id, "query": q, "pageSize": PAGE_SIZE, "pageToken": query(&raw, "page")}),
        )
        .await;
    let mut content = ui::search_form(&base, &q, "Search accounts by name or email", "");
    match found {
        Err(e) => content.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|x| x.get("appUser").unwrap_or(x))
                .map(|a| {
                    let owner = text(a, "identityUserId");
                    vec![
                        esc(text(a, "displayName")),
                        esc(text(a, "email")),
                        esc(text(a, "username")),
                        esc(status_words(text(a, "status.status"))),
                        esc(type_words(text(a, "appUserType"))),
                        if owner.is_empty() {
                            "<span class=\"muted\">Not linked</span>".into()
                        } else {
                            ui::link(&format!("/admin/users/{}", enc(owner)), "View user")
                        },
                    ]
                })
                .collect();
            let empty = if q.is_empty() {
                "This app has no accounts yet. A sync or an uploaded file brings them in."
            } else {
                "No account matches this search."
            };
            content.push_str(&ui::table(
                "accounts",
                &["Account", "Email", "Username", "Status", "Type", "User"],
                &rows,
                empty,
            ));
            content.push_str(&ui::pager(
                &with_q(&base, &q),
                text(&found, "nextPageToken"),
            ));
        }
    }
    app_page(&v, &app, Tab::Accounts, "", &content, StatusCode::OK)
}

/// An account status (`STATUS_ENABLED`) in words.
pub(super) fn status_words(s: &str) -> &str {
    match s {
        "STATUS_ENABLED" => "Enabled",
        "STATUS_DISABLED" => "Disabled",
        "STATUS_DELETED" => "Deleted",
        "" | "STATUS_UNSPECIFIED" => "Unknown",
        other => other,
    }
}

/// An account type (`APP_USER_TYPE_USER`) in words.
pub(super) fn type_words(s: &str) -> &str {
    match s {
        "APP_USER_TYPE_USER" => "User",
        "APP_USER_TYPE_SERVICE_ACCOUNT" => "Service account",
        "APP_USER_TYPE_SYSTEM_ACCOUNT" => "System account",
        "APP_USER_TYPE_AI_AGENT" => "AI agent",
        "" | "APP_USER_TYPE_UNSPECIFIED" => "Unspecified",
        other => other,
    }
}

/// `GET /admin/apps/{app}/owners`.
pub async fn owners(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    render_owners(
        &w,
        &v,
        &app,
        &raw,
        ui::done_notice(&query(&raw, "done")),
        None,
    )
    .await
}

async fn render_owners(
    w: &Web,
    v: &Viewer,
    app: &Value,
    raw: &Option<String>,
    mut notice: String,
    failed: Option<(&Refusal, &str)>,
) -> Response {
    let app_id = text(app, "id");
    let base = format!("/admin/apps/{}/owners", enc(app_id));
    let found = w
        .api
        .get(
            v,
            &format!(
                "/api/v1/apps/{}/owners?page_size=50&page_token={}",
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
                .map(|u| {
                    let id = text(u, "id");
                    let name = if text(u, "displayName").is_empty() {
                        text(u, "email")
                    } else {
                        text(u, "displayName")
                    };
                    vec![
                        ui::link(&format!("/admin/users/{}", enc(id)), name),
                        esc(text(u, "email")),
                        ui::action_button(
                            v,
                            &format!("{base}/{}/remove", enc(id)),
                            "Remove",
                            "secondary",
                            &format!("Remove {name} as an owner of this app?"),
                        ),
                    ]
                })
                .collect();
            content.push_str(&ui::table(
                "owners",
                &["Owner", "Email", ""],
                &rows,
                "This app has no owners. Owners can approve access to it when a policy asks the app owner.",
            ));
            content.push_str(&ui::pager(&base, text(&found, "nextPageToken")));
        }
    }
    content.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"add-owner\"><h2 id=\"add-owner\">Add an owner</h2><form method=\"post\" action=\"{}\">{}{}<div class=\"actions\"><button type=\"submit\">Add owner</button></div></form></section>",
        esc(&base),
        ui::csrf(v),
        ui::text_field(
            "Email of the user",
            "email",
            failed.map(|(_, e)| e).unwrap_or(""),
            "type=\"email\" required autocomplete=\"off\""
        ),
    ));
    app_page(v, app, Tab::Owners, &notice, &content, status)
}

/// The id of the user with `email`, through the API's user search.
pub(super) async fn user_by_email(w: &Web, v: &Viewer, email: &str) -> Result<String, Refusal> {
    let found = w
        .api
        .post(
            v,
            "/api/v1/search/users",
            json!({"email": email, "pageSize": 2}),
        )
        .await?;
    list(&found, "list")
        .first()
        .map(|u| text(u, "user.id").to_string())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Refusal {
            status: 404,
            message: format!("No user has the email `{email}`."),
        })
}

/// `POST /admin/apps/{app}/owners` (form: email).
pub async fn add_owner(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    f: Form,
) -> Response {
    let app = match load_app(&w, &v, &app_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let email = f.get("email");
    let result = match user_by_email(&w, &v, email).await {
        Ok(uid) => w
            .api
            .post(
                &v,
                &format!("/api/v1/apps/{}/owners/{}", enc(&app_id), enc(&uid)),
                json!({}),
            )
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            Redirect::to(&format!("/admin/apps/{}/owners?done=saved", enc(&app_id))).into_response()
        }
        Err(e) => render_owners(&w, &v, &app, &None, String::new(), Some((&e, email))).await,
    }
}

/// `POST /admin/apps/{app}/owners/{user}/remove`.
pub async fn remove_owner(
    State(w): State<Web>,
    v: Viewer,
    Path((app_id, user_id)): Path<(String, String)>,
    _f: Form,
) -> Response {
    let r = w
        .api
        .call(
            &v,
            Method::DELETE,
            &format!("/api/v1/apps/{}/owners/{}", enc(&app_id), enc(&user_id)),
            Some(json!({})),
        )
        .await;
    match r {
        Ok(_) => Redirect::to(&format!("/admin/apps/{}/owners?done=removed", enc(&app_id)))
            .into_response(),
        Err(e) => match load_app(&w, &v, &app_id).await {
            Ok(app) => render_owners(&w, &v, &app, &None, String::new(), Some((&e, ""))).await,
            Err(r) => r,
        },
    }
}
