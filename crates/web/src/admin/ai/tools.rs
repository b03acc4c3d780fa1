//! The server's Tools tab (review by state: pending review, approved, disabled, removed;
//! classification; definition changes flagged with the change visible; bulk review) and a
//! tool's page (definition, review, the per-tool kill switch, history).

use super::server::{flag, killed, tools_base};
use super::{
    classification_word, classifications, done, query, refused, server_href, state_badge,
    user_labels,
};
use crate::api::{enc, list, text, Refusal};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const STATES: &[(&str, &str, &str)] = &[
    ("pending", "Pending review", "MCP_TOOL_STATE_PENDING_REVIEW"),
    ("approved", "Approved", "MCP_TOOL_STATE_APPROVED"),
    ("disabled", "Disabled", "MCP_TOOL_STATE_DISABLED"),
    ("removed", "Removed", "MCP_TOOL_STATE_REMOVED"),
    ("all", "All", ""),
];

/// Top-level keys whose values differ between two definitions.
fn changed_keys(before: &Value, after: &Value) -> Vec<String> {
    let keys: BTreeSet<&String> = before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(|m| m.keys())
        .collect();
    keys.into_iter()
        .filter(|k| before.get(k.as_str()) != after.get(k.as_str()))
        .cloned()
        .collect()
}

fn tool_flags(t: &Value, href: &str) -> String {
    let mut out = String::new();
    if flag(t, "chamberlainNeedsReview") {
        let keys = changed_keys(
            t.get("chamberlainReviewedDefinition")
                .unwrap_or(&Value::Null),
            t.get("chamberlainDefinition").unwrap_or(&Value::Null),
        );
        out.push_str(&format!(
            " <a class=\"badge warn\" href=\"{href}/tools/{}#definition-change\">Definition changed{}</a>",
            enc(text(t, "id")),
            if keys.is_empty() { String::new() } else { esc(&format!(": {}", keys.join(", "))) }
        ));
    }
    if killed(t) {
        out.push_str(&format!(" {}", ui::badge("bad", "Switched off")));
    }
    out
}

pub(super) async fn tools_tab(
    w: &Web,
    v: &Viewer,
    app: &str,
    conn: &str,
    raw: &Option<String>,
) -> String {
    let href = server_href(app, conn);
    let filter = query(raw, "state");
    let (fkey, _, fstate) = STATES
        .iter()
        .find(|(k, _, _)| *k == filter)
        .copied()
        .unwrap_or(STATES[4]);
    let q = query(raw, "q");
    let filters: String = STATES
        .iter()
        .map(|(k, l, _)| {
            let cur = if *k == fkey {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{href}?tab=tools&amp;state={k}\"{cur}>{l}</a>")
        })
        .collect();
    let mut out = format!(
        "<nav class=\"tabs\" aria-label=\"Tool state\" id=\"tool-filters\">{filters}</nav>"
    );
    out.push_str(&ui::search_form(
        &href,
        &q,
        "Search tools by name",
        &format!(
            "{}{}",
            ui::hidden("tab", "tools"),
            ui::hidden("state", fkey)
        ),
    ));
    let mut req = json!({"query": q, "pageSize": 50, "pageToken": query(raw, "page")});
    if !fstate.is_empty() {
        req["stateFilter"] = json!([fstate]);
    }
    let found = match w
        .api
        .post(
            v,
            &format!("{}/mcp_tools/search", tools_base(app, conn)),
            req,
        )
        .await
    {
        Ok(f) => f,
        Err(e) => return out + &ui::notice("error", &e.message),
    };
    let back = format!("{href}?tab=tools&state={fkey}");
    let rows: Vec<Vec<String>> = list(&found, "list")
        .iter()
        .map(|t| {
            let id = text(t, "id");
            let name = text(t, "toolName");
            let exposed = text(t, "chamberlainExposedName");
            let state = text(t, "state");
            let mut desc: String = text(t, "description").chars().take(160).collect();
            if text(t, "description").chars().count() > 160 {
                desc.push('…');
            }
            let mut review = format!(
                "<form method=\"post\" action=\"{href}/tools/{}\" class=\"review\" data-tool=\"{}\">{}{}<label class=\"sr\" for=\"c-{}\">Classification of {}</label><select id=\"c-{}\" name=\"classification\">{}</select> <button type=\"submit\" name=\"action\" value=\"classify\" class=\"secondary\">Save</button>",
                enc(id),
                esc(name),
                ui::csrf(v),
                ui::hidden("back", &back),
                esc(id),
                esc(name),
                esc(id),
                classifications()
                    .iter()
                    .map(|(val, l)| format!(
                        "<option value=\"{}\"{}>{}</option>",
                        esc(val),
                        if val == text(t, "classification") { " selected" } else { "" },
                        esc(l)
                    ))
                    .collect::<String>()
            );
            if state != "MCP_TOOL_STATE_APPROVED" && state != "MCP_TOOL_STATE_REMOVED" {
                review.push_str(" <button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>");
            }
            if state != "MCP_TOOL_STATE_DISABLED" && state != "MCP_TOOL_STATE_REMOVED" {
                review.push_str(" <button type=\"submit\" name=\"action\" value=\"disable\" class=\"secondary\">Disable</button>");
            }
            review.push_str("</form>");
            vec![
                format!(
                    "<input type=\"checkbox\" name=\"tool\" value=\"{}\" form=\"bulk-review\" aria-label=\"Select {}\">",
                    esc(id),
                    esc(name)
                ),
                format!(
                    "<a href=\"{href}/tools/{}\">{}</a><br><code class=\"muted\">{}</code>",
                    enc(id),
                    esc(name),
                    esc(exposed)
                ),
                esc(&desc),
                format!("{}{}", state_badge(state), tool_flags(t, &href)),
                review,
            ]
        })
        .collect();
    let empty = match fkey {
        "pending" => "No tool is waiting for review.",
        "approved" => "No tool is approved yet.",
        "disabled" => "No tool is disabled.",
        "removed" => "No tool was removed by its server.",
        _ => "No tools were discovered. Check the last discovery on the Overview tab, or resync.",
    };
    if !rows.is_empty() {
        out.push_str(&format!(
            "<form method=\"post\" action=\"{href}/tools/review\" id=\"bulk-review\" class=\"actions\">{}{}<span class=\"muted\">Selected tools:</span><button type=\"submit\" name=\"action\" value=\"approve\">Approve selected</button><button type=\"submit\" name=\"action\" value=\"disable\" class=\"secondary\">Disable selected</button></form>",
            ui::csrf(v),
            ui::hidden("back", &back)
        ));
    }
    out.push_str(&ui::table(
        "tools",
        &[
            "",
            "Tool",
            "Description",
            "State",
            "Classification and review",
        ],
        &rows,
        empty,
    ));
    out.push_str(&ui::pager(
        &format!("{href}?tab=tools&state={fkey}&q={}", enc(&q)),
        text(&found, "nextPageToken"),
    ));
    out
}

/// A safe place to go back to (a page of this server).
fn back_to(f: &Form, href: &str) -> String {
    let b = f.get("back");
    if b.starts_with(href) && !b.contains("//") {
        b.to_string()
    } else {
        format!("{href}?tab=tools")
    }
}

fn with_done(to: &str, key: &str) -> String {
    let sep = if to.contains('?') { '&' } else { '?' };
    format!("{to}{sep}done={key}")
}

/// The update a review action makes (tool patch, update mask).
fn tool_patch(action: &str, classification: &str) -> Option<(Value, &'static str)> {
    Some(match action {
        "approve" if !classification.is_empty() => (
            json!({"state": "MCP_TOOL_STATE_APPROVED", "classification": classification}),
            "state,classification",
        ),
        "approve" => (json!({"state": "MCP_TOOL_STATE_APPROVED"}), "state"),
        "disable" => (json!({"state": "MCP_TOOL_STATE_DISABLED"}), "state"),
        "pending" => (json!({"state": "MCP_TOOL_STATE_PENDING_REVIEW"}), "state"),
        "classify" => (json!({"classification": classification}), "classification"),
        "reviewed" => (
            json!({"chamberlainNeedsReview": false}),
            "chamberlainNeedsReview",
        ),
        "kill" => (json!({"chamberlainKilled": true}), "chamberlainKilled"),
        "unkill" => (json!({"chamberlainKilled": false}), "chamberlainKilled"),
        _ => return None,
    })
}

/// `POST …/tools/{tool}` (form: action, classification, back).
pub async fn tool_update(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, tool)): Path<(String, String, String)>,
    f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let back = back_to(&f, &href);
    let Some((patch, mask)) = tool_patch(f.get("action"), f.get("classification")) else {
        return refused(
            &v,
            &Refusal {
                status: 400,
                message: "unknown action".into(),
            },
            &back,
        );
    };
    let path = format!("{}/mcp_tools/{}", tools_base(&app, &conn), enc(&tool));
    match w
        .api
        .post(&v, &path, json!({"tool": patch, "updateMask": mask}))
        .await
    {
        Ok(_) => {
            let key = match f.get("action") {
                "approve" => "approved",
                "kill" => "killed",
                "unkill" => "reopened",
                _ => "saved",
            };
            done(&with_done(&back, key))
        }
        Err(e) => refused(&v, &e, &back),
    }
}

/// `POST …/tools/review` (form: action approve|disable, tool…): the same change for every
/// selected tool.
pub async fn review_many(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let back = back_to(&f, &href);
    let Some((patch, mask)) = tool_patch(f.get("action"), "")
        .filter(|_| matches!(f.get("action"), "approve" | "disable"))
    else {
        return refused(
            &v,
            &Refusal {
                status: 400,
                message: "unknown action".into(),
            },
            &back,
        );
    };
    let tools = f.all("tool");
    if tools.is_empty() {
        return refused(
            &v,
            &Refusal {
                status: 400,
                message: "Select at least one tool.".into(),
            },
            &back,
        );
    }
    for t in &tools {
        let path = format!("{}/mcp_tools/{}", tools_base(&app, &conn), enc(t));
        if let Err(e) = w
            .api
            .post(&v, &path, json!({"tool": patch, "updateMask": mask}))
            .await
        {
            return refused(&v, &e, &back);
        }
    }
    done(&with_done(
        &back,
        if f.get("action") == "approve" {
            "approved"
        } else {
            "saved"
        },
    ))
}

fn pretty(v: &Value) -> String {
    if v.is_null() {
        return "<p class=\"muted\">None recorded.</p>".into();
    }
    format!(
        "<pre class=\"def\">{}</pre>",
        esc(&serde_json::to_string_pretty(v).unwrap_or_default())
    )
}

/// `GET …/tools/{tool}`: the tool's definition (and what changed since review), its review
/// and kill switch, and its history.
pub async fn tool_page(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, tool)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(r) = super::admins_only(&v, Section::Ai) {
        return r;
    }
    let href = server_href(&app, &conn);
    let base = format!("{}/mcp_tools/{}", tools_base(&app, &conn), enc(&tool));
    let t = match w.api.get(&v, &base).await {
        Ok(r) => r.get("tool").cloned().unwrap_or(Value::Null),
        Err(e) => return refused(&v, &e, &format!("{href}?tab=tools")),
    };
    let me = format!("{href}/tools/{}", enc(&tool));
    let name = text(&t, "toolName");
    let mut body = format!(
        "<p><a href=\"{href}?tab=tools\">← Tools</a></p>{}",
        ui::done_notice(&query(&raw, "done"))
    );
    let mut facts = vec![
        (
            "Name AI clients see",
            format!("<code>{}</code>", esc(text(&t, "chamberlainExposedName"))),
        ),
        (
            "State",
            format!(
                "{}{}",
                state_badge(text(&t, "state")),
                tool_flags(&t, &href)
            ),
        ),
        (
            "Classification",
            format!(
                "{} <span class=\"muted\">(from its annotations: {})</span>",
                esc(&classification_word(text(&t, "classification"))),
                esc(&classification_word(text(&t, "defaultClassification")))
            ),
        ),
        ("Description", esc(text(&t, "description"))),
        (
            "Entitlement",
            format!("<code>{}</code>", esc(text(&t, "appEntitlementId"))),
        ),
        ("Last called", ui::when(text(&t, "lastCalledAt"))),
    ];
    if !text(&t, "chamberlainNameNote").is_empty() {
        facts.push(("Name note", esc(text(&t, "chamberlainNameNote"))));
    }
    body.push_str(&format!(
        "<dl class=\"facts card\" id=\"tool-facts\">{}</dl>",
        facts
            .iter()
            .map(|(k, val)| format!("<dt>{}</dt><dd>{val}</dd>", esc(k)))
            .collect::<String>()
    ));
    let state = text(&t, "state");
    let mut review = format!(
        "<form method=\"post\" action=\"{me}\" class=\"card\" id=\"tool-review\"><h2>Review</h2>{}{}{}<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"classify\" class=\"secondary\">Save classification</button>",
        ui::csrf(&v),
        ui::hidden("back", &me),
        ui::select("Classification", "classification", &classifications(), text(&t, "classification")),
    );
    if state != "MCP_TOOL_STATE_REMOVED" {
        if state != "MCP_TOOL_STATE_APPROVED" {
            review.push_str(
                "<button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>",
            );
        }
        if state != "MCP_TOOL_STATE_DISABLED" {
            review.push_str("<button type=\"submit\" name=\"action\" value=\"disable\" class=\"secondary\">Disable</button>");
        }
        if state != "MCP_TOOL_STATE_PENDING_REVIEW" {
            review.push_str("<button type=\"submit\" name=\"action\" value=\"pending\" class=\"secondary\">Back to pending review</button>");
        }
    }
    review.push_str("</div></form>");
    body.push_str(&review);
    let kill = if killed(&t) {
        format!(
            "<form method=\"post\" action=\"{me}\" class=\"inline\" data-confirm=\"{}\">{}{}<button type=\"submit\" name=\"action\" value=\"unkill\">Switch back on</button></form>",
            esc(&format!("Switch tool \"{name}\" back on? Users who hold it can call it again.")),
            ui::csrf(&v),
            ui::hidden("back", &me)
        )
    } else {
        format!(
            "<form method=\"post\" action=\"{me}\" class=\"inline\" data-confirm=\"{}\">{}{}<button type=\"submit\" name=\"action\" value=\"kill\" class=\"danger\">Kill switch: stop this tool</button></form>",
            esc(&format!("Stop tool \"{name}\"? Every call to it is refused for every user and AI client until you switch it back on.")),
            ui::csrf(&v),
            ui::hidden("back", &me)
        )
    };
    body.push_str(&format!(
        "<div class=\"actions\" id=\"tool-kill\">{kill}</div>"
    ));
    if flag(&t, "chamberlainNeedsReview") {
        let before = t
            .get("chamberlainReviewedDefinition")
            .cloned()
            .unwrap_or(Value::Null);
        let after = t
            .get("chamberlainDefinition")
            .cloned()
            .unwrap_or(Value::Null);
        let keys = changed_keys(&before, &after);
        body.push_str(&format!(
            "<section class=\"card\" id=\"definition-change\"><h2>Definition changed since it was reviewed</h2><p>Changed: <strong>{}</strong>. The tool keeps its state; review the change, then mark it reviewed (or change its state).</p><div class=\"cards\"><div><h3>As reviewed</h3>{}</div><div><h3>Now</h3>{}</div></div><form method=\"post\" action=\"{me}\">{}{}<button type=\"submit\" name=\"action\" value=\"reviewed\">Mark the change reviewed</button></form></section>",
            esc(&keys.join(", ")),
            pretty(&before),
            pretty(&after),
            ui::csrf(&v),
            ui::hidden("back", &me)
        ));
    }
    body.push_str(&format!(
        "<h2>Definition</h2>{}",
        pretty(t.get("chamberlainDefinition").unwrap_or(&Value::Null))
    ));
    body.push_str("<h2>History</h2>");
    match w
        .api
        .get(
            &v,
            &format!(
                "{base}/history?page_size=25&page_token={}",
                enc(&query(&raw, "page"))
            ),
        )
        .await
    {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(h) => {
            let actors: Vec<&str> = list(&h, "list")
                .iter()
                .map(|e| text(e, "metadata.actor.userId"))
                .collect();
            let names = user_labels(&w, &v, &actors).await;
            let rows: Vec<Vec<String>> = list(&h, "list")
                .iter()
                .map(|e| {
                    let kind = list(e, "metadata.annotations")
                        .iter()
                        .find(|a| text(a, "key") == "chamberlain.kind")
                        .map(|a| text(a, "value").to_string())
                        .unwrap_or_default();
                    let actor = text(e, "metadata.actor.userId");
                    let snap = e.get("snapshot").unwrap_or(&Value::Null);
                    vec![
                        ui::when(text(e, "metadata.createdAt")),
                        esc(&kind.replace("tool.", "").replace('_', " ")),
                        if actor.is_empty() {
                            "<span class=\"muted\">Discovery</span>".into()
                        } else {
                            esc(names.get(actor).map(String::as_str).unwrap_or(actor))
                        },
                        format!(
                            "{}{}",
                            state_badge(text(snap, "state")),
                            if flag(snap, "chamberlainKilled") {
                                " ".to_string() + &ui::badge("bad", "Switched off")
                            } else {
                                String::new()
                            }
                        ),
                        esc(&classification_word(text(snap, "classification"))),
                    ]
                })
                .collect();
            body.push_str(&ui::table(
                "tool-history",
                &["When", "What", "Who", "State", "Classification"],
                &rows,
                "No history yet.",
            ));
            body.push_str(&ui::pager(&me, text(&h, "nextPageToken")));
        }
    }
    Page::new(Section::Ai, format!("Tool {name}"), body).render(&v)
}
