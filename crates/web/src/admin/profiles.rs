//! Access profiles (request catalogs): the list, "New profile" (name → Continue), and the
//! profile page with its tabs: Entitlements ("Manage entitlements"), Requests ("Allow
//! requests", "Profile is visible to") and JML (Joiner approval policy, Leaver behaviour,
//! Membership automation with its circuit breaker), plus publish and delete.
//!
//! Entitlements are picked with one picker (search across apps, filter by app, tick, Save)
//! that works without the script: searching re-posts the form with the selection so far.

use crate::api::{self, enc, list, text};
use crate::employee::query;
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chamberlain_store::repo::catalogs::BUILTIN_APP_ID;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/profiles", get(page))
        .route("/admin/profiles/new", get(new_form).post(create))
        .route("/admin/profiles/{id}", get(overview))
        .route("/admin/profiles/{id}/entitlements", get(entitlements_tab))
        .route(
            "/admin/profiles/{id}/entitlements/manage",
            get(manage_form).post(manage_submit),
        )
        .route("/admin/profiles/{id}/requests", get(requests_tab))
        .route(
            "/admin/profiles/{id}/requests/edit",
            get(requests_form).post(requests_submit),
        )
        .route("/admin/profiles/{id}/jml", get(jml_tab))
        .route(
            "/admin/profiles/{id}/jml/joiner",
            get(joiner_form).post(joiner_submit),
        )
        .route(
            "/admin/profiles/{id}/jml/leaver",
            get(leaver_form).post(leaver_submit),
        )
        .route(
            "/admin/profiles/{id}/jml/automation",
            get(automation_form).post(automation_submit),
        )
        .route(
            "/admin/profiles/{id}/jml/automation/run",
            post(run_automation),
        )
        .route(
            "/admin/profiles/{id}/jml/automation/resume",
            post(resume_automation),
        )
        .route("/admin/profiles/{id}/publish", post(publish))
        .route("/admin/profiles/{id}/delete", post(delete))
}

/// The name of the synthetic joiner policy the "Auto approval" choice uses.
const AUTO_APPROVAL: &str = "Auto approval";

fn refusal_page(v: &Viewer, title: &str, e: &api::Refusal, back: &str) -> Response {
    let body = format!(
        "{}<p><a href=\"{}\">Back</a></p>",
        ui::notice("error", &e.message),
        esc(back)
    );
    Page::new(Section::Profiles, title, body)
        .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
        .render(v)
}

/// `GET /admin/profiles[?page=…]`.
async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let token = query(&raw, "page");
    let mut body = ui::done_notice(&query(&raw, "done"));
    body.push_str("<div class=\"actions\"><a class=\"button\" href=\"/admin/profiles/new\">New profile</a></div>");
    match w
        .api
        .get(
            &v,
            &format!("/api/v1/catalogs?pageSize=25&pageToken={}", enc(&token)),
        )
        .await
    {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|c| {
                    let cat = &c["requestCatalog"];
                    let visible =
                        if cat.get("visibleToEveryone").and_then(Value::as_bool) == Some(true) {
                            "Everyone".to_string()
                        } else {
                            let n = list(cat, "accessEntitlements").len();
                            if n == 0 {
                                "Nobody yet".into()
                            } else {
                                format!("Users with entitlements ({n})")
                            }
                        };
                    vec![
                        format!(
                            "<a href=\"/admin/profiles/{}\">{}</a>",
                            enc(text(cat, "id")),
                            esc(text(cat, "displayName"))
                        ),
                        published_badge(cat),
                        esc(&visible),
                        esc(text(c, "memberCount")),
                        esc(text(cat, "description")),
                    ]
                })
                .collect();
            body.push_str(&ui::table(
                "profiles",
                &["Name", "Status", "Visible to", "Members", "Description"],
                &rows,
                "No access profile yet. Create one to bundle entitlements people request together or receive automatically.",
            ));
            body.push_str(&ui::pager("/admin/profiles", text(&found, "nextPageToken")));
        }
    }
    Page::new(Section::Profiles, "Access profiles", body).render(&v)
}

fn published_badge(cat: &Value) -> String {
    if cat.get("published").and_then(Value::as_bool) == Some(true) {
        ui::badge("ok", "Published")
    } else {
        ui::badge("warn", "Draft")
    }
}

fn new_page(v: &Viewer, name: &str, description: &str, problem: Option<&str>) -> Response {
    let body = format!(
        "{}<form method=\"post\" action=\"/admin/profiles/new\" class=\"card\">{}{}{}<div class=\"actions\"><button type=\"submit\">Continue</button><a href=\"/admin/profiles\">Cancel</a></div></form>",
        problem.map(|p| ui::notice("error", p)).unwrap_or_default(),
        ui::csrf(v),
        ui::text_field("Name", "name", name, "required maxlength=\"200\" autofocus"),
        ui::text_area("Description", "description", description, "maxlength=\"2000\""),
    );
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Page::new(Section::Profiles, "New profile", body)
        .status(status)
        .render(v)
}

/// `GET /admin/profiles/new`.
async fn new_form(v: Viewer) -> Response {
    new_page(&v, "", "", None)
}

/// `POST /admin/profiles/new`: creates a draft (unpublished) profile and opens it.
async fn create(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let (name, description) = (f.get("name"), f.get("description"));
    if name.is_empty() {
        return new_page(&v, name, description, Some("Give the profile a name."));
    }
    match w
        .api
        .post(
            &v,
            "/api/v1/catalogs",
            json!({"displayName": name, "description": description}),
        )
        .await
    {
        Ok(c) => Redirect::to(&format!(
            "/admin/profiles/{}/entitlements?done=created",
            enc(text(&c, "requestCatalogView.requestCatalog.id"))
        ))
        .into_response(),
        Err(e) => new_page(&v, name, description, Some(&e.message)),
    }
}

/// `GET /admin/profiles/{id}`.
async fn overview(Path(id): Path<String>) -> Response {
    Redirect::to(&format!("/admin/profiles/{}/entitlements", enc(&id))).into_response()
}

async fn load(w: &Web, v: &Viewer, id: &str) -> Result<Value, api::Refusal> {
    let c = w
        .api
        .get(v, &format!("/api/v1/catalogs/{}", enc(id)))
        .await?;
    Ok(c["requestCatalogView"].clone())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Entitlements,
    Requests,
    Jml,
}

/// The profile's header and tabs around a tab's body.
fn shell(v: &Viewer, view: &Value, tab: Tab, done: &str, inner: String) -> Response {
    let cat = &view["requestCatalog"];
    let id = text(cat, "id");
    let tabs = [
        (Tab::Entitlements, "entitlements", "Entitlements"),
        (Tab::Requests, "requests", "Requests"),
        (Tab::Jml, "jml", "JML"),
    ]
    .iter()
    .map(|(t, path, label)| {
        let cur = if *t == tab {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!(
            "<a href=\"/admin/profiles/{}/{path}\"{cur}>{label}</a>",
            enc(id)
        )
    })
    .collect::<String>();
    let published = cat.get("published").and_then(Value::as_bool) == Some(true);
    let publish = ui::action_button(
        v,
        &format!("/admin/profiles/{}/publish", enc(id)),
        if published { "Unpublish" } else { "Publish" },
        "secondary",
        "",
    );
    let delete = ui::action_button(
        v,
        &format!("/admin/profiles/{}/delete", enc(id)),
        "Delete profile",
        "danger",
        "Delete this access profile? Its members leave it.",
    );
    let draft_note = if published {
        String::new()
    } else {
        "<p class=\"muted\">Draft: nobody sees this profile under Requests until it is published.</p>".into()
    };
    let body = format!(
        "{}<div class=\"profile-head\"><p>{} <span class=\"muted\">{} member(s)</span></p><p>{}</p>{draft_note}<div class=\"actions\">{publish}{delete}</div></div>\
<nav class=\"tabs\" aria-label=\"Profile\">{tabs}</nav><div class=\"tab-body\">{inner}</div>",
        ui::done_notice(done),
        published_badge(cat),
        esc(text(view, "memberCount")),
        esc(text(cat, "description")),
    );
    Page::new(
        Section::Profiles,
        format!("Access profile: {}", text(cat, "displayName")),
        body,
    )
    .render(v)
}

/// Entitlement names and app names for refs (one search).
async fn describe(
    w: &Web,
    v: &Viewer,
    refs: &[(String, String)],
) -> HashMap<String, (String, String)> {
    let mut out = HashMap::new();
    for chunk in refs.chunks(100) {
        let body = json!({
            "refs": chunk.iter().map(|(a, e)| json!({"appId": a, "id": e})).collect::<Vec<_>>(),
            "pageSize": 100,
            "expandMask": {"paths": ["appId"]},
        });
        if let Ok(found) = w.api.post(v, "/api/v1/search/entitlements", body).await {
            let apps: HashMap<&str, &str> = list(&found, "expanded")
                .iter()
                .map(|a| (text(a, "id"), text(a, "displayName")))
                .collect();
            for e in list(&found, "list") {
                let e = &e["appEntitlement"];
                let app = text(e, "appId");
                let app_name = if app == BUILTIN_APP_ID {
                    "Access profiles"
                } else {
                    apps.get(app).copied().unwrap_or(app)
                };
                out.insert(
                    text(e, "id").to_string(),
                    (text(e, "displayName").to_string(), app_name.to_string()),
                );
            }
        }
    }
    out
}

async fn entry_refs(w: &Web, v: &Viewer, id: &str) -> Result<Vec<(String, String)>, api::Refusal> {
    let ids = w
        .api
        .get(
            v,
            &format!("/api/v1/catalogs/{}/requestable_entitlementIDs", enc(id)),
        )
        .await?;
    Ok(list(&ids, "refs")
        .iter()
        .map(|r| (text(r, "appId").to_string(), text(r, "id").to_string()))
        .collect())
}

fn access_refs(view: &Value) -> Vec<(String, String)> {
    list(view, "requestCatalog.accessEntitlements")
        .iter()
        .map(|e| (text(e, "appId").to_string(), text(e, "id").to_string()))
        .collect()
}

fn ref_list(
    refs: &[(String, String)],
    names: &HashMap<String, (String, String)>,
    id: &str,
    empty: &str,
) -> String {
    if refs.is_empty() {
        return format!("<p class=\"empty\" id=\"{id}-empty\">{}</p>", esc(empty));
    }
    let items: String = refs
        .iter()
        .map(|(_, e)| {
            let (n, a) = names.get(e).cloned().unwrap_or((e.clone(), String::new()));
            format!(
                "<li>{} <span class=\"muted\">{}</span></li>",
                esc(&n),
                esc(&a)
            )
        })
        .collect();
    format!("<ul class=\"plain\" id=\"{id}\">{items}</ul>")
}

/// `GET /admin/profiles/{id}/entitlements`.
async fn entitlements_tab(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let refs = match entry_refs(&w, &v, &id).await {
        Ok(r) => r,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let names = describe(&w, &v, &refs).await;
    let rows: Vec<Vec<String>> = refs
        .iter()
        .map(|(a, e)| {
            let (n, app) = names.get(e).cloned().unwrap_or((e.clone(), a.clone()));
            vec![esc(&n), esc(&app)]
        })
        .collect();
    let inner = format!(
        "<h2>Entitlements</h2><p class=\"muted\">What members of this profile may request, or receive automatically.</p>\
<div class=\"actions\"><a class=\"button\" href=\"/admin/profiles/{}/entitlements/manage\">Manage entitlements</a></div>{}",
        enc(&id),
        ui::table(
            "profile-entitlements",
            &["Entitlement", "App"],
            &rows,
            "No entitlements yet. Click Manage entitlements to add the apps' entitlements this profile gives."
        )
    );
    shell(&v, &view, Tab::Entitlements, &query(&raw, "done"), inner)
}

/// The entitlement picker's state: what is selected, and the current search.
struct Picker {
    selected: Vec<(String, String)>,
    q: String,
    app: String,
}

impl Picker {
    /// From a posted form: the selection so far, minus the shown results that were unticked,
    /// plus those ticked.
    fn from_form(f: &Form) -> Picker {
        let parse = |s: &String| {
            s.split_once('/')
                .map(|(a, e)| (a.to_string(), e.to_string()))
        };
        let shown: BTreeSet<(String, String)> = f.all("shown").iter().filter_map(parse).collect();
        let ticked: Vec<(String, String)> = f.all("ent").iter().filter_map(parse).collect();
        let mut selected: Vec<(String, String)> = f
            .all("sel")
            .iter()
            .filter_map(parse)
            .filter(|r| !shown.contains(r))
            .collect();
        for t in ticked {
            if !selected.contains(&t) {
                selected.push(t);
            }
        }
        Picker {
            selected,
            q: f.get("q").to_string(),
            app: f.get("app").to_string(),
        }
    }

    /// The picker's fields (inside the caller's form).
    async fn render(&self, w: &Web, v: &Viewer, label: &str) -> String {
        let apps = w
            .api
            .post(v, "/api/v1/search/apps", json!({"pageSize": 100}))
            .await
            .unwrap_or_default();
        let mut app_opts = vec![(String::new(), "All apps".to_string())];
        app_opts.extend(list(&apps, "list").iter().map(|a| {
            (
                text(a, "id").to_string(),
                text(a, "displayName").to_string(),
            )
        }));
        let mut body = json!({"query": self.q.to_lowercase(), "pageSize": 25, "expandMask": {"paths": ["appId"]}});
        if !self.app.is_empty() {
            body["appIds"] = json!([self.app]);
        }
        let found = w
            .api
            .post(v, "/api/v1/search/entitlements", body)
            .await
            .unwrap_or_default();
        let app_names: HashMap<&str, &str> = list(&found, "expanded")
            .iter()
            .map(|a| (text(a, "id"), text(a, "displayName")))
            .collect();
        let sel: BTreeSet<&str> = self.selected.iter().map(|(_, e)| e.as_str()).collect();
        let mut results = String::new();
        for e in list(&found, "list") {
            let e = &e["appEntitlement"];
            let (app, ent) = (text(e, "appId"), text(e, "id"));
            let value = format!("{app}/{ent}");
            let app_name = if app == BUILTIN_APP_ID {
                "Access profiles"
            } else {
                app_names.get(app).copied().unwrap_or(app)
            };
            let fid = format!("pick-{}", enc(ent));
            results.push_str(&format!(
                "<li><input type=\"hidden\" name=\"shown\" value=\"{value}\"><label class=\"check\" for=\"{fid}\"><input type=\"checkbox\" name=\"ent\" value=\"{value}\" id=\"{fid}\"{}> {} <span class=\"muted\">{}</span></label></li>",
                if sel.contains(ent) { " checked" } else { "" },
                esc(text(e, "displayName")),
                esc(app_name),
                value = esc(&value),
            ));
        }
        let results = if results.is_empty() {
            "<p class=\"empty\" id=\"picker-empty\">No entitlement matches. Try another search or app.</p>".to_string()
        } else {
            format!("<ul class=\"plain picker-results\" id=\"picker-results\">{results}</ul>")
        };
        // Selected entitlements the results do not show (those shown are the checkboxes).
        let shown: BTreeSet<&str> = list(&found, "list")
            .iter()
            .map(|e| text(e, "appEntitlement.id"))
            .collect();
        let others: Vec<(String, String)> = self
            .selected
            .iter()
            .filter(|(_, e)| !shown.contains(e.as_str()))
            .cloned()
            .collect();
        let names = describe(w, v, &others).await;
        let others = if others.is_empty() {
            String::new()
        } else {
            format!(
                "<h4>Also selected ({})</h4>{}",
                others.len(),
                ref_list(&others, &names, "picker-selected", "")
            )
        };
        let kept: String = self
            .selected
            .iter()
            .map(|(a, e)| ui::hidden("sel", &format!("{a}/{e}")))
            .collect();
        format!(
            "<fieldset class=\"picker\"><legend>{}</legend>{kept}\
<div class=\"picker-search\"><div>{}</div><div>{}</div><button type=\"submit\" name=\"op\" value=\"search\" class=\"secondary\">Search</button></div>{results}{others}</fieldset>",
            esc(label),
            ui::text_field("Search entitlements", "q", &self.q, "type=\"search\""),
            ui::select("App", "app", &app_opts, &self.app),
        )
    }
}

/// Adds and removes so that the profile's `link` list is `want`.
async fn sync_links(
    w: &Web,
    v: &Viewer,
    id: &str,
    have: &[(String, String)],
    want: &[(String, String)],
    path: &str,
    field: &str,
) -> Result<(), api::Refusal> {
    let refs = |v: Vec<&(String, String)>| -> Vec<Value> {
        v.into_iter()
            .map(|(a, e)| json!({"appId": a, "id": e}))
            .collect()
    };
    let add: Vec<&(String, String)> = want
        .iter()
        .filter(|r| !have.iter().any(|h| h.1 == r.1))
        .collect();
    let remove: Vec<&(String, String)> = have
        .iter()
        .filter(|r| !want.iter().any(|h| h.1 == r.1))
        .collect();
    let url = format!("/api/v1/catalogs/{}/{path}", enc(id));
    if !remove.is_empty() {
        w.api
            .call(
                v,
                Method::DELETE,
                &url,
                Some(json!({ field: refs(remove) })),
            )
            .await?;
    }
    if !add.is_empty() {
        w.api.post(v, &url, json!({ field: refs(add) })).await?;
    }
    Ok(())
}

async fn manage_page(
    w: &Web,
    v: &Viewer,
    view: &Value,
    picker: &Picker,
    problem: Option<&str>,
) -> Response {
    let id = text(view, "requestCatalog.id");
    let inner = format!(
        "<h2>Manage entitlements</h2>{}<form method=\"post\" action=\"/admin/profiles/{}/entitlements/manage\" class=\"card\">{}\
<button type=\"submit\" name=\"op\" value=\"search\" class=\"sr\" tabindex=\"-1\" aria-hidden=\"true\">Search</button>{}\
<div class=\"actions\"><button type=\"submit\" name=\"op\" value=\"save\">Save</button><a href=\"/admin/profiles/{}/entitlements\">Cancel</a></div></form>",
        problem.map(|p| ui::notice("error", p)).unwrap_or_default(),
        enc(id),
        ui::csrf(v),
        picker
            .render(w, v, "Use filters and the search field to find entitlements")
            .await,
        enc(id),
    );
    shell(v, view, Tab::Entitlements, "", inner)
}

/// `GET /admin/profiles/{id}/entitlements/manage`.
async fn manage_form(State(w): State<Web>, v: Viewer, Path(id): Path<String>) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let selected = entry_refs(&w, &v, &id).await.unwrap_or_default();
    let picker = Picker {
        selected,
        q: String::new(),
        app: String::new(),
    };
    manage_page(&w, &v, &view, &picker, None).await
}

/// `POST /admin/profiles/{id}/entitlements/manage`.
async fn manage_submit(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    f: Form,
) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let picker = Picker::from_form(&f);
    if f.get("op") != "save" {
        return manage_page(&w, &v, &view, &picker, None).await;
    }
    let have = entry_refs(&w, &v, &id).await.unwrap_or_default();
    match sync_links(
        &w,
        &v,
        &id,
        &have,
        &picker.selected,
        "requestable_entries",
        "appEntitlements",
    )
    .await
    {
        Ok(()) => Redirect::to(&format!(
            "/admin/profiles/{}/entitlements?done=saved",
            enc(&id)
        ))
        .into_response(),
        Err(e) => manage_page(&w, &v, &view, &picker, Some(&e.message)).await,
    }
}

/// `GET /admin/profiles/{id}/requests`.
async fn requests_tab(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let cat = &view["requestCatalog"];
    let allow = cat.get("requestBundle").and_then(Value::as_bool) == Some(true);
    let everyone = cat.get("visibleToEveryone").and_then(Value::as_bool) == Some(true);
    let refs = access_refs(&view);
    let names = describe(&w, &v, &refs).await;
    let visible = if everyone {
        "<p id=\"visible-to\">Everyone</p>".to_string()
    } else {
        format!(
            "<p id=\"visible-to\">Users with entitlements:</p>{}",
            ref_list(
                &refs,
                &names,
                "visibility",
                "No entitlement chosen: nobody sees this profile."
            )
        )
    };
    let inner = format!(
        "<h2>Requests</h2><section class=\"card\"><dl class=\"facts\"><div><dt>Allow requests</dt><dd id=\"allow-requests\">{}</dd></div></dl>\
<h3>Profile is visible to</h3>{visible}<div class=\"actions\"><a class=\"button\" href=\"/admin/profiles/{}/requests/edit\">Edit</a></div></section>",
        if allow {
            "Yes: people who see the profile may request it"
        } else {
            "No"
        },
        enc(&id),
    );
    shell(&v, &view, Tab::Requests, &query(&raw, "done"), inner)
}

async fn requests_page(
    w: &Web,
    v: &Viewer,
    view: &Value,
    allow: bool,
    everyone: bool,
    picker: &Picker,
    problem: Option<&str>,
) -> Response {
    let id = text(view, "requestCatalog.id");
    let radio = |value: &str, label: &str, on: bool| {
        format!(
            "<label class=\"check\"><input type=\"radio\" name=\"visible\" value=\"{value}\" id=\"f-visible-{value}\"{}> {}</label>",
            if on { " checked" } else { "" },
            esc(label)
        )
    };
    let inner = format!(
        "<h2>Requests</h2>{}<form method=\"post\" action=\"/admin/profiles/{}/requests/edit\" class=\"card\">{}\
<button type=\"submit\" name=\"op\" value=\"search\" class=\"sr\" tabindex=\"-1\" aria-hidden=\"true\">Search</button>\
<label class=\"check\"><input type=\"checkbox\" name=\"allow\" id=\"f-allow\"{}> Allow requests</label>\
<fieldset class=\"choice\" id=\"visible-choice\"><legend>Profile is visible to</legend>{}{}<div class=\"when-entitlements\">{}</div></fieldset>\
<div class=\"actions\"><button type=\"submit\" name=\"op\" value=\"save\">Save</button><a href=\"/admin/profiles/{}/requests\">Cancel</a></div></form>",
        problem.map(|p| ui::notice("error", p)).unwrap_or_default(),
        enc(id),
        ui::csrf(v),
        if allow { " checked" } else { "" },
        radio("everyone", "Everyone", everyone),
        radio("entitlements", "Users with entitlements", !everyone),
        picker
            .render(w, v, "Users holding any of these entitlements see the profile (e.g. an on-call rotation)")
            .await,
        enc(id),
    );
    shell(v, view, Tab::Requests, "", inner)
}

/// `GET /admin/profiles/{id}/requests/edit`.
async fn requests_form(State(w): State<Web>, v: Viewer, Path(id): Path<String>) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let cat = &view["requestCatalog"];
    let allow = cat.get("requestBundle").and_then(Value::as_bool) == Some(true);
    let everyone = cat.get("visibleToEveryone").and_then(Value::as_bool) == Some(true);
    let picker = Picker {
        selected: access_refs(&view),
        q: String::new(),
        app: String::new(),
    };
    requests_page(&w, &v, &view, allow, everyone, &picker, None).await
}

/// `POST /admin/profiles/{id}/requests/edit`.
async fn requests_submit(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    f: Form,
) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let picker = Picker::from_form(&f);
    let allow = f.checked("allow");
    let everyone = f.get("visible") == "everyone";
    if f.get("op") != "save" {
        return requests_page(&w, &v, &view, allow, everyone, &picker, None).await;
    }
    if !everyone && picker.selected.is_empty() {
        return requests_page(
            &w,
            &v,
            &view,
            allow,
            everyone,
            &picker,
            Some("Select at least one entitlement whose holders see the profile, or choose Everyone."),
        )
        .await;
    }
    let have = access_refs(&view);
    let want = if everyone {
        have.clone()
    } else {
        picker.selected.clone()
    };
    let result = async {
        w.api
            .post(
                &v,
                &format!("/api/v1/catalogs/{}", enc(&id)),
                json!({"catalog": {"requestBundle": allow, "visibleToEveryone": everyone},
                       "updateMask": "requestBundle,visibleToEveryone"}),
            )
            .await?;
        sync_links(
            &w,
            &v,
            &id,
            &have,
            &want,
            "visibility_bindings",
            "accessEntitlements",
        )
        .await
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/admin/profiles/{}/requests?done=saved", enc(&id)))
            .into_response(),
        Err(e) => requests_page(&w, &v, &view, allow, everyone, &picker, Some(&e.message)).await,
    }
}

async fn enrollment(w: &Web, v: &Viewer, view: &Value) -> Value {
    let ent = text(view, "requestCatalog.enrollmentEntitlementId");
    w.api
        .get(
            v,
            &format!(
                "/api/v1/apps/{}/entitlements/{}",
                enc(BUILTIN_APP_ID),
                enc(ent)
            ),
        )
        .await
        .map(|e| e["appEntitlementView"]["appEntitlement"].clone())
        .unwrap_or(Value::Null)
}

async fn policy_name(w: &Web, v: &Viewer, id: &str) -> String {
    if id.is_empty() {
        return "Default (the access profiles app's policy)".into();
    }
    match w.api.get(v, &format!("/api/v1/policies/{}", enc(id))).await {
        Ok(p) => text(&p, "policy.displayName").into(),
        Err(_) => id.into(),
    }
}

const LEAVER: &[(&str, &str)] = &[
    (
        "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_UNSPECIFIED",
        "Default",
    ),
    (
        "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_LEAVE_ACCESS_AS_IS",
        "Leave access as is",
    ),
    (
        "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_REVOKE_ALL",
        "Revoke all of the profile's access",
    ),
    (
        "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_REVOKE_UNJUSTIFIED",
        "Revoke access not justified otherwise",
    ),
];

const LEAVER_POLICY: &[(&str, &str)] = &[
    (
        "REQUEST_CATALOG_UNENROLLMENT_ENTITLEMENT_BEHAVIOR_UNSPECIFIED",
        "Default",
    ),
    (
        "REQUEST_CATALOG_UNENROLLMENT_ENTITLEMENT_BEHAVIOR_BYPASS",
        "Bypass the entitlements' revoke policies",
    ),
    (
        "REQUEST_CATALOG_UNENROLLMENT_ENTITLEMENT_BEHAVIOR_ENFORCE",
        "Enforce the entitlements' revoke policies",
    ),
];

const JOINER: &[(&str, &str)] = &[
    ("REQUEST_CATALOG_ENROLLMENT_BEHAVIOR_UNSPECIFIED", "Default"),
    (
        "REQUEST_CATALOG_ENROLLMENT_BEHAVIOR_BYPASS_ENTITLEMENT_REQUEST_POLICY",
        "Bypass the entitlements' request policies",
    ),
    (
        "REQUEST_CATALOG_ENROLLMENT_BEHAVIOR_ENFORCE_ENTITLEMENT_REQUEST_POLICY",
        "Enforce the entitlements' request policies",
    ),
];

fn label_of<'a>(table: &'a [(&str, &'a str)], v: &str) -> &'a str {
    table
        .iter()
        .find(|(k, _)| *k == v)
        .map(|(_, l)| *l)
        .unwrap_or(table[0].1)
}

fn owned(table: &[(&str, &str)]) -> Vec<(String, String)> {
    table
        .iter()
        .map(|(k, l)| (k.to_string(), l.to_string()))
        .collect()
}

async fn bundle(w: &Web, v: &Viewer, id: &str) -> Option<Value> {
    w.api
        .get(
            v,
            &format!("/api/v1/catalogs/{}/bundle_automation", enc(id)),
        )
        .await
        .ok()
}

fn bundle_refs(b: &Value) -> Vec<(String, String)> {
    list(b, "entitlements.entitlementRefs")
        .iter()
        .map(|r| (text(r, "appId").to_string(), text(r, "id").to_string()))
        .collect()
}

/// `GET /admin/profiles/{id}/jml`.
async fn jml_tab(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let cat = &view["requestCatalog"];
    let ent = enrollment(&w, &v, &view).await;
    let policy = policy_name(&w, &v, text(&ent, "grantPolicyId")).await;
    let joiner = format!(
        "<section class=\"card\" id=\"joiner\"><h3>Joiner</h3><dl class=\"facts\"><div><dt>Approval policy</dt><dd id=\"joiner-policy\">{}</dd></div>\
<div><dt>Entitlement request policies</dt><dd>{}</dd></div></dl><div class=\"actions\"><a class=\"button\" href=\"/admin/profiles/{}/jml/joiner\" aria-label=\"Edit joiner\">Edit</a></div></section>",
        esc(&policy),
        esc(label_of(JOINER, text(cat, "enrollmentBehavior"))),
        enc(&id)
    );
    let leaver = format!(
        "<section class=\"card\" id=\"leaver\"><h3>Leaver</h3><dl class=\"facts\"><div><dt>When a member leaves</dt><dd>{}</dd></div>\
<div><dt>Entitlement revoke policies</dt><dd>{}</dd></div></dl><div class=\"actions\"><a class=\"button\" href=\"/admin/profiles/{}/jml/leaver\" aria-label=\"Edit leaver\">Edit</a></div></section>",
        esc(label_of(LEAVER, text(cat, "unenrollmentBehavior"))),
        esc(label_of(LEAVER_POLICY, text(cat, "unenrollmentEntitlementBehavior"))),
        enc(&id)
    );
    let automation = match bundle(&w, &v, &id).await {
        None => "<p class=\"empty\" id=\"automation-empty\">No membership automation: members join by request only.</p>".to_string(),
        Some(b) => {
            let refs = bundle_refs(&b);
            let names = describe(&w, &v, &refs).await;
            let rule = if let Some(c) = api::at(&b, "cel") {
                format!("<code>{}</code>", esc(text(c, "expression")))
            } else {
                ref_list(&refs, &names, "automation-entitlements", "No entitlement.")
            };
            let enabled = b.get("enabled").and_then(Value::as_bool) == Some(true);
            let breaker = match text(&b, "circuitBreaker.state") {
                "CIRCUIT_BREAKER_STATE_TRIGGERED" => ui::badge(
                    "bad",
                    "Paused: a run would remove more members than the threshold allows",
                ),
                "CIRCUIT_BREAKER_STATE_BYPASS" => {
                    ui::badge("warn", "Resumed: the next run applies in full")
                }
                _ if b.get("disableCircuitBreaker").and_then(Value::as_bool) == Some(true) => {
                    ui::badge("", "Off")
                }
                _ => ui::badge("ok", "Closed (runs apply)"),
            };
            let last = match api::at(&b, "state") {
                None => "Not run yet".to_string(),
                Some(s) => format!(
                    "{} {} {}",
                    esc(
                        &text(s, "status")
                            .trim_start_matches("BUNDLE_AUTOMATION_RUN_STATUS_")
                            .to_lowercase()
                            .replace('_', " ")
                    ),
                    ui::when(text(s, "lastRunAt")),
                    esc(text(s, "errorMessage"))
                ),
            };
            let resume = if text(&b, "circuitBreaker.state") == "CIRCUIT_BREAKER_STATE_TRIGGERED"
            {
                ui::action_button(
                    &v,
                    &format!("/admin/profiles/{}/jml/automation/resume", enc(&id)),
                    "Resume",
                    "secondary",
                    "Resume the automation? Its next run removes the members it would remove.",
                )
            } else {
                String::new()
            };
            format!(
                "<dl class=\"facts\"><div><dt>Status</dt><dd id=\"automation-status\">{}</dd></div><div><dt>Members are users holding</dt><dd>{rule}</dd></div>\
<div><dt>Create requests (joiner approval policy)</dt><dd>{}</dd></div><div><dt>Circuit breaker</dt><dd id=\"circuit-breaker\">{breaker} <span class=\"muted\">threshold {}% of members removed</span></dd></div>\
<div><dt>Last run</dt><dd id=\"automation-last-run\">{last}</dd></div></dl><div class=\"actions\">{}{resume}</div>",
                if enabled { ui::badge("ok", "Enabled") } else { ui::badge("", "Disabled") },
                if b.get("createTasks").and_then(Value::as_bool) == Some(true) { "Yes" } else { "No: members are granted directly" },
                esc(text(&b, "removedMembersThresholdPercent")),
                ui::action_button(
                    &v,
                    &format!("/admin/profiles/{}/jml/automation/run", enc(&id)),
                    "Run now",
                    "secondary",
                    ""
                ),
            )
        }
    };
    let inner = format!(
        "<h2>JML</h2>{joiner}{leaver}<section class=\"card\" id=\"membership-automation\"><h3>Membership automation</h3>{automation}\
<div class=\"actions\"><a class=\"button\" href=\"/admin/profiles/{}/jml/automation\" aria-label=\"Edit membership automation\">Edit</a></div></section>",
        enc(&id)
    );
    shell(&v, &view, Tab::Jml, &query(&raw, "done"), inner)
}

/// Grant policies for the joiner dropdown: (id, name), "Auto approval" first.
async fn grant_policies(w: &Web, v: &Viewer) -> Vec<(String, String)> {
    let mut out = vec![
        (
            String::new(),
            "Default (the access profiles app's policy)".to_string(),
        ),
        ("auto".to_string(), AUTO_APPROVAL.to_string()),
    ];
    if let Ok(found) = w
        .api
        .post(
            v,
            "/api/v1/search/policies",
            json!({"policyTypes": ["POLICY_TYPE_GRANT"], "pageSize": 100}),
        )
        .await
    {
        for p in list(&found, "list") {
            if text(p, "displayName") != AUTO_APPROVAL {
                out.push((text(p, "id").into(), text(p, "displayName").into()));
            }
        }
    }
    out
}

/// The "Auto approval" grant policy: found by name, created (accept, then provision) if absent.
async fn auto_approval_policy(w: &Web, v: &Viewer) -> Result<String, api::Refusal> {
    let found = w
        .api
        .post(
            v,
            "/api/v1/search/policies",
            json!({"displayName": AUTO_APPROVAL, "policyTypes": ["POLICY_TYPE_GRANT"], "pageSize": 100}),
        )
        .await?;
    if let Some(p) = list(&found, "list")
        .iter()
        .find(|p| text(p, "displayName") == AUTO_APPROVAL)
    {
        return Ok(text(p, "id").into());
    }
    let p = w
        .api
        .post(
            v,
            "/api/v1/policies",
            json!({
                "displayName": AUTO_APPROVAL,
                "description": "Approves automatically, then provisions (used by access profiles' joiner).",
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [
                    {"accept": {"acceptMessage": "Approved automatically"}},
                    {"provision": {}}
                ]}}
            }),
        )
        .await?;
    Ok(text(&p, "policy.id").into())
}

async fn joiner_page(
    w: &Web,
    v: &Viewer,
    view: &Value,
    policy: &str,
    behavior: &str,
    problem: Option<&str>,
) -> Response {
    let id = text(view, "requestCatalog.id");
    let inner = format!(
        "<h2>JML: Joiner</h2>{}<form method=\"post\" action=\"/admin/profiles/{}/jml/joiner\" class=\"card\">{}{}<p class=\"muted\">How a request to join this profile (or an automatic enrollment that creates requests) is approved.</p>{}\
<div class=\"actions\"><button type=\"submit\">Save</button><a href=\"/admin/profiles/{}/jml\">Cancel</a></div></form>",
        problem.map(|p| ui::notice("error", p)).unwrap_or_default(),
        enc(id),
        ui::csrf(v),
        ui::select("Approval policy", "policy", &grant_policies(w, v).await, policy),
        ui::select("Entitlement request policies on joining", "behavior", &owned(JOINER), behavior),
        enc(id),
    );
    shell(v, view, Tab::Jml, "", inner)
}

/// `GET /admin/profiles/{id}/jml/joiner`.
async fn joiner_form(State(w): State<Web>, v: Viewer, Path(id): Path<String>) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let ent = enrollment(&w, &v, &view).await;
    let mut policy = text(&ent, "grantPolicyId").to_string();
    if !policy.is_empty() && policy_name(&w, &v, &policy).await == AUTO_APPROVAL {
        policy = "auto".into();
    }
    let behavior = text(&view, "requestCatalog.enrollmentBehavior").to_string();
    joiner_page(&w, &v, &view, &policy, &behavior, None).await
}

/// `POST /admin/profiles/{id}/jml/joiner`.
async fn joiner_submit(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    f: Form,
) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let (policy, behavior) = (f.get("policy"), f.get("behavior"));
    let result = async {
        let policy_id = if policy == "auto" {
            auto_approval_policy(&w, &v).await?
        } else {
            policy.to_string()
        };
        let ent = text(&view, "requestCatalog.enrollmentEntitlementId");
        w.api
            .post(
                &v,
                &format!(
                    "/api/v1/apps/{}/entitlements/{}",
                    enc(BUILTIN_APP_ID),
                    enc(ent)
                ),
                json!({"entitlement": {"grantPolicyId": policy_id}, "updateMask": "grantPolicyId"}),
            )
            .await?;
        if !behavior.is_empty() {
            w.api
                .post(
                    &v,
                    &format!("/api/v1/catalogs/{}", enc(&id)),
                    json!({"catalog": {"enrollmentBehavior": behavior}, "updateMask": "enrollmentBehavior"}),
                )
                .await?;
        }
        Ok::<(), api::Refusal>(())
    }
    .await;
    match result {
        Ok(()) => {
            Redirect::to(&format!("/admin/profiles/{}/jml?done=saved", enc(&id))).into_response()
        }
        Err(e) => joiner_page(&w, &v, &view, policy, behavior, Some(&e.message)).await,
    }
}

fn leaver_page(v: &Viewer, view: &Value, a: &str, b: &str, problem: Option<&str>) -> Response {
    let id = text(view, "requestCatalog.id");
    let inner = format!(
        "<h2>JML: Leaver</h2>{}<form method=\"post\" action=\"/admin/profiles/{}/jml/leaver\" class=\"card\">{}{}{}\
<div class=\"actions\"><button type=\"submit\">Save</button><a href=\"/admin/profiles/{}/jml\">Cancel</a></div></form>",
        problem.map(|p| ui::notice("error", p)).unwrap_or_default(),
        enc(id),
        ui::csrf(v),
        ui::select("When a member leaves the profile", "unenroll", &owned(LEAVER), a),
        ui::select("Entitlement revoke policies on leaving", "unenroll_policy", &owned(LEAVER_POLICY), b),
        enc(id),
    );
    shell(v, view, Tab::Jml, "", inner)
}

/// `GET /admin/profiles/{id}/jml/leaver`.
async fn leaver_form(State(w): State<Web>, v: Viewer, Path(id): Path<String>) -> Response {
    match load(&w, &v, &id).await {
        Ok(view) => {
            let a = text(&view, "requestCatalog.unenrollmentBehavior").to_string();
            let b = text(&view, "requestCatalog.unenrollmentEntitlementBehavior").to_string();
            leaver_page(&v, &view, &a, &b, None)
        }
        Err(e) => refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    }
}

/// `POST /admin/profiles/{id}/jml/leaver`.
async fn leaver_submit(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    f: Form,
) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let (a, b) = (f.get("unenroll"), f.get("unenroll_policy"));
    match w
        .api
        .post(
            &v,
            &format!("/api/v1/catalogs/{}", enc(&id)),
            json!({"catalog": {"unenrollmentBehavior": a, "unenrollmentEntitlementBehavior": b},
                   "updateMask": "unenrollmentBehavior,unenrollmentEntitlementBehavior"}),
        )
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/admin/profiles/{}/jml?done=saved", enc(&id))).into_response()
        }
        Err(e) => leaver_page(&v, &view, a, b, Some(&e.message)),
    }
}

struct AutomationDraft {
    enabled: bool,
    create_tasks: bool,
    threshold: String,
    picker: Picker,
}

async fn automation_page(
    w: &Web,
    v: &Viewer,
    view: &Value,
    d: &AutomationDraft,
    exists: bool,
    problem: Option<&str>,
) -> Response {
    let id = text(view, "requestCatalog.id");
    let check = |name: &str, label: &str, on: bool| {
        format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" id=\"f-{name}\"{}> {}</label>",
            if on { " checked" } else { "" },
            esc(label)
        )
    };
    let remove = if exists {
        "<button type=\"submit\" name=\"op\" value=\"remove\" class=\"danger\">Remove automation</button>"
    } else {
        ""
    };
    let inner = format!(
        "<h2>JML: Membership automation</h2>{}<form method=\"post\" action=\"/admin/profiles/{}/jml/automation\" class=\"card\">{}\
<button type=\"submit\" name=\"op\" value=\"search\" class=\"sr\" tabindex=\"-1\" aria-hidden=\"true\">Search</button>\
<p class=\"muted\">Users holding any of the selected entitlements become members automatically, and leave when they no longer hold them.</p>{}{}{}{}\
<div class=\"actions\"><button type=\"submit\" name=\"op\" value=\"save\">Save</button>{remove}<a href=\"/admin/profiles/{}/jml\">Cancel</a></div></form>",
        problem.map(|p| ui::notice("error", p)).unwrap_or_default(),
        enc(id),
        ui::csrf(v),
        d.picker.render(w, v, "Members are users holding (e.g. an on-call rotation)").await,
        check("enabled", "Enabled", d.enabled),
        check("create_tasks", "Create requests that go through the joiner approval policy", d.create_tasks),
        ui::text_field(
            "Circuit breaker: pause when a run would remove more than this percentage of members",
            "threshold",
            &d.threshold,
            "type=\"number\" min=\"1\" max=\"100\" inputmode=\"numeric\""
        ),
        enc(id),
    );
    shell(v, view, Tab::Jml, "", inner)
}

/// `GET /admin/profiles/{id}/jml/automation`.
async fn automation_form(State(w): State<Web>, v: Viewer, Path(id): Path<String>) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let b = bundle(&w, &v, &id).await;
    let d = match &b {
        Some(b) => AutomationDraft {
            enabled: b.get("enabled").and_then(Value::as_bool) == Some(true),
            create_tasks: b.get("createTasks").and_then(Value::as_bool) == Some(true),
            threshold: text(b, "removedMembersThresholdPercent").into(),
            picker: Picker {
                selected: bundle_refs(b),
                q: String::new(),
                app: String::new(),
            },
        },
        None => AutomationDraft {
            enabled: true,
            create_tasks: true,
            threshold: "20".into(),
            picker: Picker {
                selected: vec![],
                q: String::new(),
                app: String::new(),
            },
        },
    };
    automation_page(&w, &v, &view, &d, b.is_some(), None).await
}

/// `POST /admin/profiles/{id}/jml/automation`: saves (and, when enabled, runs it at once so
/// current holders are enrolled), or removes it.
async fn automation_submit(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    f: Form,
) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let exists = bundle(&w, &v, &id).await.is_some();
    let d = AutomationDraft {
        enabled: f.checked("enabled"),
        create_tasks: f.checked("create_tasks"),
        threshold: f.get("threshold").into(),
        picker: Picker::from_form(&f),
    };
    let url = format!("/api/v1/catalogs/{}/bundle_automation", enc(&id));
    match f.get("op") {
        "save" => {}
        "remove" => {
            return match w.api.call(&v, Method::DELETE, &url, Some(json!({}))).await {
                Ok(_) => Redirect::to(&format!("/admin/profiles/{}/jml?done=deleted", enc(&id)))
                    .into_response(),
                Err(e) => automation_page(&w, &v, &view, &d, exists, Some(&e.message)).await,
            }
        }
        _ => return automation_page(&w, &v, &view, &d, exists, None).await,
    }
    if d.picker.selected.is_empty() {
        return automation_page(
            &w,
            &v,
            &view,
            &d,
            exists,
            Some("Select at least one entitlement whose holders become members."),
        )
        .await;
    }
    let threshold: i64 = match d.threshold.parse() {
        Ok(t) if (1..=100).contains(&t) => t,
        _ if d.threshold.is_empty() => 0,
        _ => {
            return automation_page(
                &w,
                &v,
                &view,
                &d,
                exists,
                Some("The circuit breaker threshold is a whole percentage from 1 to 100."),
            )
            .await
        }
    };
    let refs: Vec<Value> = d
        .picker
        .selected
        .iter()
        .map(|(a, e)| json!({"appId": a, "id": e}))
        .collect();
    let body = json!({
        "entitlements": {"entitlementRefs": refs},
        "enabled": d.enabled,
        "createTasks": d.create_tasks,
        "removedMembersThresholdPercent": threshold.to_string(),
    });
    let result = async {
        w.api.post(&v, &url, body).await?;
        if d.enabled {
            w.api.post(&v, &format!("{url}/run"), json!({})).await?;
        }
        Ok::<(), api::Refusal>(())
    }
    .await;
    match result {
        Ok(()) => {
            Redirect::to(&format!("/admin/profiles/{}/jml?done=saved", enc(&id))).into_response()
        }
        Err(e) => automation_page(&w, &v, &view, &d, exists, Some(&e.message)).await,
    }
}

/// `POST /admin/profiles/{id}/jml/automation/run`.
async fn run_automation(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    _f: Form,
) -> Response {
    let back = format!("/admin/profiles/{}/jml", enc(&id));
    match w
        .api
        .post(
            &v,
            &format!("/api/v1/catalogs/{}/bundle_automation/run", enc(&id)),
            json!({}),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("{back}?done=ran")).into_response(),
        Err(e) => refusal_page(&v, "Membership automation", &e, &back),
    }
}

/// `POST /admin/profiles/{id}/jml/automation/resume`.
async fn resume_automation(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    _f: Form,
) -> Response {
    let back = format!("/admin/profiles/{}/jml", enc(&id));
    match w
        .api
        .post(
            &v,
            &format!("/api/v1/catalogs/{}/bundle_automation/resume", enc(&id)),
            json!({}),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("{back}?done=resumed")).into_response(),
        Err(e) => refusal_page(&v, "Membership automation", &e, &back),
    }
}

/// `POST /admin/profiles/{id}/publish`: publishes a draft, unpublishes a published profile.
async fn publish(State(w): State<Web>, v: Viewer, Path(id): Path<String>, _f: Form) -> Response {
    let view = match load(&w, &v, &id).await {
        Ok(c) => c,
        Err(e) => return refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    };
    let published = view["requestCatalog"]
        .get("published")
        .and_then(Value::as_bool)
        == Some(true);
    match w
        .api
        .post(
            &v,
            &format!("/api/v1/catalogs/{}", enc(&id)),
            json!({"catalog": {"published": !published}, "updateMask": "published"}),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!(
            "/admin/profiles/{}/entitlements?done={}",
            enc(&id),
            if published {
                "unpublished"
            } else {
                "published"
            }
        ))
        .into_response(),
        Err(e) => refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    }
}

/// `POST /admin/profiles/{id}/delete`.
async fn delete(State(w): State<Web>, v: Viewer, Path(id): Path<String>, _f: Form) -> Response {
    match w
        .api
        .call(
            &v,
            Method::DELETE,
            &format!("/api/v1/catalogs/{}", enc(&id)),
            Some(json!({})),
        )
        .await
    {
        Ok(_) => Redirect::to("/admin/profiles?done=deleted").into_response(),
        Err(e) => refusal_page(&v, "Access profile", &e, "/admin/profiles"),
    }
}
