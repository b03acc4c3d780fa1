//! The server's Toolsets tab (built-in and custom toolsets, each an entitlement of the app),
//! a toolset's page (its tools, adding and removing them, the access profiles it is in).

use super::server::{flag, tools_base};
use super::{classification_word, done, query, refused, server_href, state_badge};
use crate::api::{enc, list, text, Refusal};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

async fn all_tools(w: &Web, v: &Viewer, app: &str, conn: &str) -> Result<Vec<Value>, Refusal> {
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..20 {
        let r = w
            .api
            .post(
                v,
                &format!("{}/mcp_tools/search", tools_base(app, conn)),
                json!({"pageSize": 100, "pageToken": token}),
            )
            .await?;
        out.extend(list(&r, "list").iter().cloned());
        token = text(&r, "nextPageToken").to_string();
        if token.is_empty() {
            break;
        }
    }
    Ok(out)
}

fn builtin_word(s: &Value) -> String {
    match text(s, "chamberlainBuiltIn") {
        "ALL_APPROVED" => ui::badge("", "Built-in: every approved tool"),
        "READ_ONLY" => ui::badge("", "Built-in: approved read tools"),
        _ => ui::badge("ok", "Custom"),
    }
}

fn in_profile(s: &Value) -> String {
    if flag(s, "requestable") {
        ui::badge("ok", "In an access profile")
    } else {
        ui::badge("", "Not in an access profile")
    }
}

pub(super) async fn toolsets_tab(w: &Web, v: &Viewer, app: &str, conn: &str) -> String {
    let href = server_href(app, conn);
    let mut out = String::from("<p>A toolset is an entitlement of the server's app: put it in an access profile (Access profiles › the profile's entitlements) or grant it, and its holders' AI clients see its approved tools. Built-in toolsets keep themselves up to date.</p>");
    match w
        .api
        .get(
            v,
            &format!("{}/mcp_toolsets?page_size=100", tools_base(app, conn)),
        )
        .await
    {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "profiles")
                .iter()
                .map(|s| {
                    vec![
                        format!(
                            "<a href=\"{href}/toolsets/{}\">{}</a>",
                            enc(text(s, "id")),
                            esc(text(s, "displayName"))
                        ),
                        builtin_word(s),
                        s.get("toolCount")
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "0".into()),
                        format!("<code>{}</code>", esc(text(s, "appEntitlementId"))),
                        in_profile(s),
                    ]
                })
                .collect();
            out.push_str(&ui::table(
                "toolsets",
                &["Toolset", "Kind", "Tools", "Entitlement", "Access profiles"],
                &rows,
                "This server has no toolsets yet.",
            ));
        }
    }
    out.push_str(&format!(
        "<form method=\"post\" action=\"{href}/toolsets\" class=\"card\" id=\"new-toolset\"><h2>New toolset</h2>{}{}{}<div class=\"actions\"><button type=\"submit\">Create toolset</button></div></form>",
        ui::csrf(v),
        ui::text_field("Name", "display_name", "", "required maxlength=\"200\""),
        ui::text_field("Description", "description", "", ""),
    ));
    out
}

/// `POST …/toolsets`.
pub async fn create_toolset(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    match w
        .api
        .post(
            &v,
            &format!("{}/mcp_toolsets", tools_base(&app, &conn)),
            json!({"displayName": f.get("display_name"), "description": f.get("description")}),
        )
        .await
    {
        Ok(r) => done(&format!(
            "{href}/toolsets/{}?done=created",
            enc(text(&r, "profile.id"))
        )),
        Err(e) => refused(&v, &e, &format!("{href}?tab=toolsets")),
    }
}

/// Access profiles (request catalogs) that hold entitlement `ent` of `app`.
async fn profiles_with(w: &Web, v: &Viewer, app: &str, ent: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(found) = w.api.get(v, "/api/v1/catalogs?page_size=100").await else {
        return out;
    };
    for c in list(&found, "list") {
        let c = c.get("requestCatalog").unwrap_or(c);
        let id = text(c, "id");
        if let Ok(refs) = w
            .api
            .get(
                v,
                &format!("/api/v1/catalogs/{}/requestable_entitlementIDs", enc(id)),
            )
            .await
        {
            if list(&refs, "refs")
                .iter()
                .any(|r| text(r, "appId") == app && text(r, "id") == ent)
            {
                out.push((id.to_string(), text(c, "displayName").to_string()));
            }
        }
    }
    out
}

/// `GET …/toolsets/{set}`.
pub async fn toolset_page(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, set)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(r) = super::admins_only(&v, Section::Ai) {
        return r;
    }
    let href = server_href(&app, &conn);
    let base = format!("{}/mcp_toolsets/{}", tools_base(&app, &conn), enc(&set));
    let s = match w.api.get(&v, &base).await {
        Ok(r) => r.get("profile").cloned().unwrap_or(Value::Null),
        Err(e) => return refused(&v, &e, &format!("{href}?tab=toolsets")),
    };
    let tools = match all_tools(&w, &v, &app, &conn).await {
        Ok(t) => t,
        Err(e) => return refused(&v, &e, &format!("{href}?tab=toolsets")),
    };
    let bound: BTreeSet<String> = match w.api.get(&v, &format!("{base}/tool_bindings")).await {
        Ok(b) => list(&b, "bindings")
            .iter()
            .map(|b| text(b, "mcpToolId").to_string())
            .collect(),
        Err(e) => return refused(&v, &e, &format!("{href}?tab=toolsets")),
    };
    let by_id: HashMap<&str, &Value> = tools.iter().map(|t| (text(t, "id"), t)).collect();
    let custom = text(&s, "chamberlainBuiltIn").is_empty();
    let me = format!("{href}/toolsets/{}", enc(&set));
    let name = text(&s, "displayName");
    let profiles = profiles_with(&w, &v, &app, text(&s, "appEntitlementId")).await;
    let profile_list = if profiles.is_empty() {
        "<span class=\"muted\" id=\"toolset-profiles\">Not in any access profile yet: add its entitlement to an access profile so users can request it.</span>".to_string()
    } else {
        format!(
            "<span id=\"toolset-profiles\">{}</span>",
            profiles
                .iter()
                .map(|(id, n)| ui::link(&format!("/admin/profiles/{}", enc(id)), n))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut body = format!(
        "<p><a href=\"{href}?tab=toolsets\">← Toolsets</a></p>{}<dl class=\"facts card\" id=\"toolset-facts\"><dt>Kind</dt><dd>{}</dd><dt>Description</dt><dd>{}</dd><dt>Entitlement</dt><dd><code>{}</code></dd><dt>Access profiles</dt><dd>{profile_list}</dd></dl>",
        ui::done_notice(&query(&raw, "done")),
        builtin_word(&s),
        esc(text(&s, "description")),
        esc(text(&s, "appEntitlementId")),
    );
    let row = |t: &Value, form: &str| -> Vec<String> {
        let id = text(t, "id");
        let cb = if custom {
            format!("<input type=\"checkbox\" name=\"tool\" value=\"{}\" form=\"{form}\" aria-label=\"Select {}\">", esc(id), esc(text(t, "toolName")))
        } else {
            String::new()
        };
        vec![
            cb,
            format!(
                "<a href=\"{href}/tools/{}\">{}</a>",
                enc(id),
                esc(text(t, "toolName"))
            ),
            state_badge(text(t, "state")),
            esc(&classification_word(text(t, "classification"))),
        ]
    };
    let in_rows: Vec<Vec<String>> = bound
        .iter()
        .filter_map(|id| by_id.get(id.as_str()))
        .map(|t| row(t, "unbind"))
        .collect();
    body.push_str("<h2>Tools in this toolset</h2><p class=\"muted\">Only approved tools that are not switched off reach AI clients.</p>");
    if custom && !in_rows.is_empty() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{me}/unbind\" id=\"unbind\" class=\"actions\">{}<button type=\"submit\" class=\"secondary\">Remove selected from the toolset</button></form>",
            ui::csrf(&v)
        ));
    }
    body.push_str(&ui::table(
        "toolset-tools",
        &["", "Tool", "State", "Classification"],
        &in_rows,
        "No tools are in this toolset yet.",
    ));
    if custom {
        let out_rows: Vec<Vec<String>> = tools
            .iter()
            .filter(|t| {
                !bound.contains(text(t, "id")) && text(t, "state") != "MCP_TOOL_STATE_REMOVED"
            })
            .map(|t| row(t, "bind"))
            .collect();
        body.push_str("<h2>Add tools</h2>");
        if !out_rows.is_empty() {
            body.push_str(&format!(
                "<form method=\"post\" action=\"{me}/bind\" id=\"bind\" class=\"actions\">{}<button type=\"submit\">Add selected to the toolset</button></form>",
                ui::csrf(&v)
            ));
        }
        body.push_str(&ui::table(
            "toolset-candidates",
            &["", "Tool", "State", "Classification"],
            &out_rows,
            "Every tool of this server is already in the toolset.",
        ));
        body.push_str(&format!(
            "<div class=\"actions\">{}</div>",
            ui::action_button(
                &v,
                &format!("{me}/delete"),
                "Delete toolset",
                "secondary",
                &format!(
                    "Delete toolset \"{name}\"? Its entitlement and every grant of it are removed."
                )
            )
        ));
    } else {
        body.push_str("<p class=\"muted\">This toolset maintains itself and cannot be edited; create a custom toolset to choose tools.</p>");
    }
    Page::new(Section::Ai, format!("Toolset {name}"), body).render(&v)
}

async fn bindings(
    w: &Web,
    v: &Viewer,
    app: &str,
    conn: &str,
    set: &str,
    f: &Form,
    remove: bool,
) -> Response {
    let me = format!("{}/toolsets/{}", server_href(app, conn), enc(set));
    let tools = f.all("tool");
    if tools.is_empty() {
        return refused(
            v,
            &Refusal {
                status: 400,
                message: "Select at least one tool.".into(),
            },
            &me,
        );
    }
    let path = format!(
        "{}/mcp_toolsets/{}/tool_bindings{}",
        tools_base(app, conn),
        enc(set),
        if remove { "/delete" } else { "" }
    );
    match w.api.post(v, &path, json!({"mcpToolIds": tools})).await {
        Ok(_) => done(&format!(
            "{me}?done={}",
            if remove { "unbound" } else { "bound" }
        )),
        Err(e) => refused(v, &e, &me),
    }
}

/// `POST …/toolsets/{set}/bind` (form: tool…).
pub async fn bind(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, set)): Path<(String, String, String)>,
    f: Form,
) -> Response {
    bindings(&w, &v, &app, &conn, &set, &f, false).await
}

/// `POST …/toolsets/{set}/unbind` (form: tool…).
pub async fn unbind(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, set)): Path<(String, String, String)>,
    f: Form,
) -> Response {
    bindings(&w, &v, &app, &conn, &set, &f, true).await
}

/// `POST …/toolsets/{set}/delete`.
pub async fn delete_toolset(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, set)): Path<(String, String, String)>,
    _f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let path = format!("{}/mcp_toolsets/{}", tools_base(&app, &conn), enc(&set));
    match w.api.call(&v, Method::DELETE, &path, Some(json!({}))).await {
        Ok(_) => done(&format!("{href}?tab=toolsets&done=deleted")),
        Err(e) => refused(&v, &e, &format!("{href}/toolsets/{}", enc(&set))),
    }
}
