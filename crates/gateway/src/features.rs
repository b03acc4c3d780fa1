//! Resources, resource templates, prompts and completions of downstream servers, proxied under
//! the same governance as tools.
//!
//! **Who sees what.** A user may use a server's resources, resource templates and prompts
//! exactly when they may use at least one of its tools right now: they hold a toolset or tool
//! entitlement of the server (in force, not expired) that gives them a visible tool
//! ([`Index::servers_for`]). Killed servers are therefore excluded, and the tenant's MCP kill
//! switch refuses every request before it gets here. Anything else is answered like a name that
//! does not exist (the protocol's not-found error, so existence is not revealed) and audited
//! DENIED with the precise reason.
//!
//! **Names.** Prompts are named like tools, `<prefix>_<prompt>` ([`names::assign`]), computed
//! over the servers the user may use; a collision gives the later-registered server's prompt a
//! hash suffix. Resource URIs appear inside content, so they are never rewritten: the lists
//! show them as the servers give them, and `resources/read` routes a URI to the first server
//! (in [`index::server_order`]: prefix, registration time, id) that lists it, else to the first
//! one with a template matching it. A URI listed by several servers is shown once, from the
//! server reads go to. Completions route by their ref: `ref/prompt` by exposed prompt name,
//! `ref/resource` by URI or URI template, the same way.
//!
//! **Fetching.** Nothing is cached: lists are fetched from each server on demand with the
//! user's credentials (all pages, capped per server) and merged in server order; a server that
//! fails is left out and audited, the others still answer. Reads, gets and completions are
//! forwarded with the native name and their results passed through unchanged (2026-07-28
//! results get `resultType`, and reads and lists `ttlMs: 0` / `cacheScope: "private"`, as they
//! vary per user).
//!
//! **Subscriptions** (legacy sessions) go to the server reads of the URI would go to, on a
//! downstream session bound to the client session ([`crate::upstream::BoundSession`]); the
//! server's `notifications/resources/updated` for a subscribed URI reach that client
//! session's GET stream. URIs are the same on both sides, so nothing is mapped.

use crate::index::{self, Denial, Index};
use crate::names;
use crate::protocol::{
    access, audit_target, code, connection_elicitation, error, modern_result, name_and_arguments,
    ok, Caller,
};
use crate::upstream::UpstreamError;
use crate::Gateway;
use chamberlain_model::mcp::McpServer;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Most items taken from one server's list (the rest is dropped with a warning).
pub const MAX_ITEMS_PER_SERVER: usize = 10_000;
/// How long one server's list may take before it is left out.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(20);
/// Resource-not-found in the session era (2026-07-28 uses -32602).
pub const LEGACY_RESOURCE_NOT_FOUND: i64 = -32002;

/// A list the gateway merges across servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `resources/list`.
    Resources,
    /// `resources/templates/list`.
    Templates,
    /// `prompts/list`.
    Prompts,
}

impl Kind {
    /// The list method.
    pub fn method(self) -> &'static str {
        match self {
            Kind::Resources => "resources/list",
            Kind::Templates => "resources/templates/list",
            Kind::Prompts => "prompts/list",
        }
    }

    /// Where the items are in the result.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Resources => "resources",
            Kind::Templates => "resourceTemplates",
            Kind::Prompts => "prompts",
        }
    }

    /// What the audit calls the items.
    fn label(self) -> &'static str {
        match self {
            Kind::Resources => "resources",
            Kind::Templates => "resource templates",
            Kind::Prompts => "prompts",
        }
    }

    /// The field that identifies an item.
    fn id_field(self) -> &'static str {
        match self {
            Kind::Resources => "uri",
            Kind::Templates => "uriTemplate",
            Kind::Prompts => "name",
        }
    }
}

/// One server's list, or why it could not be had.
type Listed<'a> = (&'a McpServer, Result<Vec<Value>, UpstreamError>);

/// Lists `kind` on every server concurrently with the user's credentials, keeping the order
/// of `servers`. A server without the feature (`-32601`) lists nothing.
async fn fetch<'a>(
    gw: &Gateway,
    servers: &[&'a McpServer],
    kind: Kind,
    user: &str,
) -> Vec<Listed<'a>> {
    let calls = servers.iter().map(|s| async move {
        let listed = tokio::time::timeout(
            LIST_TIMEOUT,
            gw.list_as(
                &s.connector_id,
                kind.method(),
                kind.key(),
                user,
                MAX_ITEMS_PER_SERVER,
            ),
        )
        .await
        .unwrap_or_else(|_| {
            Err(UpstreamError::Transport(format!(
                "the server did not answer {} within {} s",
                kind.method(),
                LIST_TIMEOUT.as_secs()
            )))
        });
        let listed = match listed {
            Err(UpstreamError::Rpc { code: c, .. }) if c == code::METHOD_NOT_FOUND => Ok(vec![]),
            other => other,
        };
        (*s, listed)
    });
    futures::future::join_all(calls).await
}

/// `resources/list`, `resources/templates/list`, `prompts/list`: the user's servers' items
/// merged in server order (prompts under their exposed names, resources and templates once
/// per URI), never paginated.
pub async fn list(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    kind: Kind,
    started: Instant,
) -> Value {
    let method = kind.method();
    let (index, held) = match access(gw, caller, id, method, "", started).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let servers = index.servers_for(&held);
    let listed = fetch(gw, &servers, kind, &caller.user_id).await;
    let mut ok_servers = Vec::new();
    for (server, result) in listed {
        match result {
            Ok(items) => ok_servers.push((server, items)),
            Err(e) => audit_target(
                gw,
                caller,
                method,
                (&server.connector_id, ""),
                "",
                (
                    "ERROR",
                    format!("{method} of this server failed, so it was left out: {e}"),
                ),
                started,
            ),
        }
    }
    let items: Vec<Value> = if kind == Kind::Prompts {
        named_prompts(&ok_servers)
            .into_iter()
            .map(|p| {
                let mut item = p.item.clone();
                item["name"] = json!(p.exposed);
                item
            })
            .collect()
    } else {
        let mut seen = HashSet::new();
        ok_servers
            .iter()
            .flat_map(|(_, items)| items.iter())
            .filter(|item| {
                item.get(kind.id_field())
                    .and_then(Value::as_str)
                    .is_some_and(|u| seen.insert(u.to_string()))
            })
            .cloned()
            .collect()
    };
    audit_target(
        gw,
        caller,
        method,
        ("", ""),
        "",
        (
            "SUCCESS",
            format!(
                "{} {} listed from {} of {} servers",
                items.len(),
                kind.label(),
                ok_servers.len(),
                servers.len()
            ),
        ),
        started,
    );
    ok(
        id,
        modern_result(caller, json!({ kind.key(): items }), true),
    )
}

/// A prompt as the user sees it.
struct NamedPrompt<'s, 'a> {
    exposed: String,
    server: &'a McpServer,
    native: String,
    item: &'s Value,
}

/// Names every listed prompt (`names::assign`, as for tools), in server order and then each
/// server's own order. Prompts without a name are skipped.
fn named_prompts<'s, 'a>(listed: &'s [(&'a McpServer, Vec<Value>)]) -> Vec<NamedPrompt<'s, 'a>> {
    let mut candidates = Vec::new();
    let mut found = Vec::new();
    for (server, items) in listed {
        for item in items {
            let Some(native) = item.get("name").and_then(Value::as_str) else {
                continue;
            };
            let key = format!("{}\u{1f}{native}", server.connector_id);
            candidates.push(names::Candidate {
                tool_id: key.clone(),
                server_id: server.connector_id.clone(),
                server_name: server.display_name.clone(),
                server_created: server.created_at.map(|c| c.as_micros()).unwrap_or(0),
                prefix: server.effective_prefix().to_string(),
                tool_name: native.to_string(),
            });
            found.push((key, *server, native.to_string(), item));
        }
    }
    let assigned = names::assign(&candidates);
    found
        .into_iter()
        .filter_map(|(key, server, native, item)| {
            Some(NamedPrompt {
                exposed: assigned.get(&key)?.0.clone(),
                server,
                native,
                item,
            })
        })
        .collect()
}

/// Whether a server with `prefix` can have an item exposed as `name`: every name
/// `names::assign` gives starts with the server's prefix and `_` (hash suffixes keep it).
pub fn could_expose(prefix: &str, name: &str) -> bool {
    let p = names::sanitize(prefix);
    p.is_empty()
        || name
            .strip_prefix(p.as_str())
            .is_some_and(|r| r.starts_with('_'))
}

/// Where a request goes, or why it goes nowhere.
enum Route<'a> {
    /// The server and the item's native name (or the URI).
    To(&'a McpServer, String),
    /// Nothing matched.
    Nowhere(Miss<'a>),
}

/// Why a request routes nowhere.
struct Miss<'a> {
    /// For the audit.
    reason: String,
    /// The server the audit names, if one is known (the one the name would belong to, or the
    /// one that could not be asked).
    server: Option<&'a McpServer>,
    /// Set when `server` could not be asked because the user's connection to it is missing.
    connection: Option<Denial>,
}

/// Why servers that could not be asked were not (for the audit).
fn failures_note(failures: &[(&McpServer, UpstreamError)]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let list: Vec<String> = failures
        .iter()
        .map(|(s, e)| format!("\"{}\": {e}", s.display_name))
        .collect();
    format!("; servers that could not be asked: {}", list.join("; "))
}

/// A miss: the first server whose connection is missing is named (the user can fix that).
fn miss<'a>(reason: String, failures: &[(&'a McpServer, UpstreamError)]) -> Route<'a> {
    let missing = failures.iter().find_map(|(s, e)| match e {
        UpstreamError::ConnectionRequired(d) => Some((*s, d.clone())),
        _ => None,
    });
    Route::Nowhere(Miss {
        reason,
        server: missing.as_ref().map(|(s, _)| *s),
        connection: missing.map(|(_, d)| d),
    })
}

/// Finds the server of exposed prompt `name` among those the user may use.
async fn route_prompt<'a>(
    gw: &Gateway,
    caller: &Caller,
    index: &'a Index,
    held: &HashSet<String>,
    name: &str,
) -> Route<'a> {
    let servers: Vec<&McpServer> = index
        .servers_for(held)
        .into_iter()
        .filter(|s| could_expose(s.effective_prefix(), name))
        .collect();
    let hidden = hidden_owners(index, held, name);
    let hidden_note = || {
        let why: Vec<&str> = hidden.iter().map(|(_, w)| w.as_str()).collect();
        why.join("; ")
    };
    if servers.is_empty() {
        let reason = if hidden.is_empty() {
            format!("unknown prompt: no server's prefix fits `{name}`")
        } else {
            format!(
                "no server the user may use could serve `{name}`; {}",
                hidden_note()
            )
        };
        return Route::Nowhere(Miss {
            reason,
            server: hidden.first().map(|(s, _)| *s),
            connection: None,
        });
    }
    let mut listed = Vec::new();
    let mut failures = Vec::new();
    for (server, result) in fetch(gw, &servers, Kind::Prompts, &caller.user_id).await {
        match result {
            Ok(items) => listed.push((server, items)),
            Err(e) => failures.push((server, e)),
        }
    }
    if let Some(p) = named_prompts(&listed)
        .into_iter()
        .find(|p| p.exposed == name)
    {
        return Route::To(p.server, p.native);
    }
    let reason = format!(
        "unknown prompt: no server the user may use has a prompt named `{name}`{}{}",
        failures_note(&failures),
        if hidden.is_empty() {
            String::new()
        } else {
            format!("; not usable: {}", hidden_note())
        }
    );
    miss(reason, &failures)
}

/// For the audit: the servers whose prefix fits prompt `name` but whose prompts the user may
/// not use, each with the reason.
fn hidden_owners<'a>(
    index: &'a Index,
    held: &HashSet<String>,
    name: &str,
) -> Vec<(&'a McpServer, String)> {
    let mut owners: Vec<&McpServer> = index
        .servers
        .values()
        .filter(|s| could_expose(s.effective_prefix(), name))
        .collect();
    owners.sort_by(|a, b| index::server_order(a).cmp(&index::server_order(b)));
    owners
        .iter()
        .filter_map(|s| {
            let denial = index.server_access(&s.connector_id, held).err()?;
            Some((
                *s,
                format!("server \"{}\": {}", s.display_name, denial.reason()),
            ))
        })
        .collect()
}

/// Finds the server of resource `uri` (or URI template) among those the user may use: the
/// first listing it exactly, else the first with a template equal to it or matching it.
async fn route_resource<'a>(
    gw: &Gateway,
    caller: &Caller,
    (index, held): (&'a Index, &HashSet<String>),
    uri: &str,
) -> Route<'a> {
    let servers = &index.servers_for(held)[..];
    if servers.is_empty() {
        return miss(index.no_server_reason(held), &[]);
    }
    let mut failures: Vec<(&McpServer, UpstreamError)> = Vec::new();
    for kind in [Kind::Resources, Kind::Templates] {
        // A server that failed to list its resources is not asked again for templates.
        let ask: Vec<&McpServer> = servers
            .iter()
            .copied()
            .filter(|s| {
                !failures
                    .iter()
                    .any(|(f, _)| f.connector_id == s.connector_id)
            })
            .collect();
        for (server, result) in fetch(gw, &ask, kind, &caller.user_id).await {
            match result {
                Ok(items) => {
                    let hit = items.iter().any(|item| {
                        let listed = item.get(kind.id_field()).and_then(Value::as_str);
                        match kind {
                            Kind::Templates => {
                                listed.is_some_and(|t| t == uri || template_matches(t, uri))
                            }
                            _ => listed == Some(uri),
                        }
                    });
                    if hit {
                        return Route::To(server, uri.to_string());
                    }
                }
                Err(e) => failures.push((server, e)),
            }
        }
    }
    let reason = format!(
        "unknown resource: none of the {} server(s) the user may use lists `{uri}` or has a template matching it{}",
        servers.len(),
        failures_note(&failures)
    );
    miss(reason, &failures)
}

/// The protocol's resource-not-found error for the caller's era.
fn resource_not_found(caller: &Caller, id: &Value, uri: &str) -> Value {
    let code = if caller.modern() {
        code::INVALID_PARAMS
    } else {
        LEGACY_RESOURCE_NOT_FOUND
    };
    error(
        id,
        code,
        &format!("Resource not found: {uri}"),
        Some(json!({"uri": uri})),
    )
}

fn prompt_not_found(id: &Value, name: &str) -> Value {
    error(
        id,
        code::INVALID_PARAMS,
        &format!("Unknown prompt: {name}"),
        None,
    )
}

/// What one forwarded request is about (for the audit and the answers).
struct Target<'a> {
    method: &'static str,
    /// The exposed prompt name or the URI.
    name: &'a str,
    /// Not-found answer for this request.
    not_found: &'a (dyn Fn() -> Value + Sync),
    /// Sent on the downstream session bound to the caller's client session (opened if
    /// needed): subscriptions, whose updates must reach this client only.
    bound: bool,
}

/// Answers a request that routes nowhere: not found (audited DENIED), or the connect answer
/// when a server could not be asked for lack of the user's connection.
fn nowhere(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    target: &Target,
    miss: Miss,
    started: Instant,
) -> Value {
    let server = miss.server.map_or("", |s| s.connector_id.as_str());
    audit_target(
        gw,
        caller,
        target.method,
        (server, ""),
        target.name,
        ("DENIED", miss.reason),
        started,
    );
    match miss.connection {
        Some(denial) if denial != Denial::ServiceNotAuthorized => {
            needs_connection(gw, caller, id, params, target, server, &denial)
        }
        _ => (target.not_found)(),
    }
}

/// The answer when the user's own connection to a server is missing: the URL-mode
/// elicitation when the client can take it, else an error carrying the connect URL.
fn needs_connection(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    target: &Target<'_>,
    server_id: &str,
    denial: &Denial,
) -> Value {
    let name = target.name;
    match connection_elicitation(gw, caller, id, params, (target.method, name), server_id, denial) {
        Ok(answer) => answer,
        Err(hint) => error(
            id,
            code::INTERNAL,
            &format!(
                "`{name}` needs your {} account, which is not connected. {} it at {} and try again.",
                hint.server, hint.verb, hint.url
            ),
            Some(json!({"connectUrl": hint.url})),
        ),
    }
}

/// Sends a routed request (`downstream` params, native names) to `server` and answers with
/// its result (or error), audited.
async fn forward(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    target: &Target<'_>,
    (server, downstream): (&McpServer, Value),
    started: Instant,
) -> Value {
    let audit = |outcome: (&str, String)| {
        audit_target(
            gw,
            caller,
            target.method,
            (&server.connector_id, ""),
            target.name,
            outcome,
            started,
        )
    };
    let bind = caller.binding(true).filter(|_| target.bound);
    let scope = crate::mrtr::Scope {
        user: &caller.user_id,
        client: &caller.client_id,
        method: target.method,
        name: target.name,
    };
    let now = chamberlain_model::Timestamp::now().unix_seconds();
    // 2026-07-28 clients may retry an input_required result (see `mrtr`); they go to a
    // server that speaks 2026-07-28 statelessly.
    let retry = if caller.modern() {
        match crate::mrtr::retry(gw.secrets(), params, scope, now) {
            Ok(r) => r,
            Err(why) => {
                audit(("DENIED", why.clone()));
                return error(id, code::INVALID_PARAMS, &why, None);
            }
        }
    } else {
        None
    };
    let modern = if caller.modern() {
        let mut down = downstream.clone();
        if let Some(r) = &retry {
            r.apply(&mut down);
        }
        gw.request_modern(
            &server.connector_id,
            (target.method, &[]),
            down,
            &caller.user_id,
            caller.caps,
            None,
        )
        .await
        .transpose()
    } else {
        None
    };
    let answer = match modern {
        Some(answer) => answer,
        None => {
            gw.request_bound(
                &server.connector_id,
                target.method,
                downstream,
                &caller.user_id,
                None,
                bind,
            )
            .await
        }
    }
    .and_then(|r| {
        // Results are objects; anything else would not survive `modern_result`.
        if r.is_object() {
            Ok(r)
        } else {
            Err(UpstreamError::Transport(
                "the server's result is not a JSON object".into(),
            ))
        }
    });
    match answer {
        Ok(result)
            if caller.modern()
                && result.get("resultType").and_then(Value::as_str) == Some("input_required") =>
        {
            match crate::mrtr::pass_on(gw.secrets(), scope, caller.caps, result, now) {
                Ok(result) => {
                    audit((
                        "SUCCESS",
                        "the server asked the client for input (input_required)".into(),
                    ));
                    ok(id, modern_result(caller, result, false))
                }
                Err(why) => {
                    audit(("ERROR", why.clone()));
                    error(
                        id,
                        code::INTERNAL,
                        &format!("the server behind `{}` needs input the gateway cannot ask this client for: {why}", target.name),
                        None,
                    )
                }
            }
        }
        Ok(result) => {
            audit(("SUCCESS", String::new()));
            if let (Some(b), Some(on)) = (bind, subscribing(target.method)) {
                gw.note_subscription(&server.connector_id, b.nonce, target.name, on)
                    .await;
            }
            // Reads are cacheable results in 2026-07-28: private, like the lists.
            let cacheable = target.method == "resources/read";
            ok(id, modern_result(caller, result, cacheable))
        }
        Err(UpstreamError::ConnectionRequired(denial)) => {
            audit(("DENIED", denial.reason()));
            if denial == Denial::ServiceNotAuthorized {
                return (target.not_found)();
            }
            needs_connection(
                gw,
                caller,
                id,
                params,
                target,
                &server.connector_id,
                &denial,
            )
        }
        Err(UpstreamError::Rpc {
            code,
            message,
            data,
        }) => {
            audit(("ERROR", format!("server error {code}: {message}")));
            // The session-era resource-not-found code does not exist in 2026-07-28.
            if caller.modern() && code == LEGACY_RESOURCE_NOT_FOUND {
                return (target.not_found)();
            }
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}})
        }
        Err(e) => {
            audit(("ERROR", e.to_string()));
            error(
                id,
                code::INTERNAL,
                &format!("the server behind `{}` could not answer: {e}", target.name),
                None,
            )
        }
    }
}

/// `resources/read`.
pub async fn read_resource(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    started: Instant,
) -> Value {
    let Some(uri) = params.get("uri").and_then(Value::as_str) else {
        return error(
            id,
            code::INVALID_PARAMS,
            "resources/read needs params.uri (a string): the URI of a resource from resources/list, or one filled in from a template of resources/templates/list",
            None,
        );
    };
    forward_resource(
        gw,
        caller,
        id,
        params,
        ("resources/read", uri),
        false,
        started,
    )
    .await
}

/// Authorizes and routes a request about one resource (`read`, `subscribe`, `unsubscribe`) to
/// the server that owns `uri`, on the caller's bound downstream session when `bound`. What the
/// caller cannot see gets the same not-found answer as what does not exist.
async fn forward_resource(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    (method, uri): (&'static str, &str),
    bound: bool,
    started: Instant,
) -> Value {
    let (index, held) = match access(gw, caller, id, method, uri, started).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let not_found = || resource_not_found(caller, id, uri);
    let target = Target {
        method,
        name: uri,
        not_found: &not_found,
        bound,
    };
    match route_resource(gw, caller, (&index, &held), uri).await {
        Route::To(server, _) => {
            forward(
                gw,
                caller,
                id,
                params,
                &target,
                (server, json!({ "uri": uri })),
                started,
            )
            .await
        }
        Route::Nowhere(m) => nowhere(gw, caller, id, params, &target, m, started),
    }
}

/// Whether `method` subscribes (true) or unsubscribes (false); None for other methods.
fn subscribing(method: &str) -> Option<bool> {
    match method {
        "resources/subscribe" => Some(true),
        "resources/unsubscribe" => Some(false),
        _ => None,
    }
}

/// `resources/subscribe` and `resources/unsubscribe` (legacy sessions): routed like
/// `resources/read` (same visibility, same not-found answer for what the caller cannot see)
/// and sent on the downstream session bound to the caller's client session, whose standalone
/// stream the gateway holds open; `notifications/resources/updated` from there go to this
/// client session's GET stream only.
pub async fn subscribe(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    on: bool,
    started: Instant,
) -> Value {
    let method = if on {
        "resources/subscribe"
    } else {
        "resources/unsubscribe"
    };
    let Some(uri) = params.get("uri").and_then(Value::as_str) else {
        return error(
            id,
            code::INVALID_PARAMS,
            &format!(
                "{method} needs params.uri (a string): the URI of a resource from resources/list"
            ),
            None,
        );
    };
    if caller.session().is_none() {
        return error(
            id,
            code::METHOD_NOT_FOUND,
            &format!("`{method}` needs a session (initialize first); 2026-07-28 clients use subscriptions/listen"),
            None,
        );
    }
    forward_resource(gw, caller, id, params, (method, uri), true, started).await
}

/// `prompts/get`.
pub async fn get_prompt(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    started: Instant,
) -> Value {
    let (name, arguments) = match name_and_arguments(
        id,
        params,
        "prompts/get needs params.name (a string): a prompt name from prompts/list",
        "params.arguments must be an object of string values",
    ) {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    let (index, held) = match access(gw, caller, id, "prompts/get", name, started).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let not_found = || prompt_not_found(id, name);
    let target = Target {
        method: "prompts/get",
        name,
        not_found: &not_found,
        bound: false,
    };
    match route_prompt(gw, caller, &index, &held, name).await {
        Route::To(server, native) => {
            let mut downstream = json!({"name": native});
            if !arguments.is_null() {
                downstream["arguments"] = arguments;
            }
            forward(
                gw,
                caller,
                id,
                params,
                &target,
                (server, downstream),
                started,
            )
            .await
        }
        Route::Nowhere(m) => nowhere(gw, caller, id, params, &target, m, started),
    }
}

/// `completion/complete`: routed by `ref` (prompt by exposed name, resource by URI or URI
/// template).
pub async fn complete(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    started: Instant,
) -> Value {
    const REF_HELP: &str = "completion/complete needs params.ref: {\"type\": \"ref/prompt\", \"name\": <prompt name>} or {\"type\": \"ref/resource\", \"uri\": <URI or URI template>}";
    let Some(reference) = params.get("ref").filter(|r| r.is_object()) else {
        return error(id, code::INVALID_PARAMS, REF_HELP, None);
    };
    let argument = params.get("argument");
    if !argument.is_some_and(|a| a.get("name").is_some_and(Value::is_string)) {
        return error(
            id,
            code::INVALID_PARAMS,
            "completion/complete needs params.argument: {\"name\": <argument name>, \"value\": <text typed so far>}",
            None,
        );
    }
    let kind = reference.get("type").and_then(Value::as_str);
    let field = match kind {
        Some("ref/prompt") => "name",
        Some("ref/resource") => "uri",
        _ => return error(id, code::INVALID_PARAMS, REF_HELP, None),
    };
    let Some(name) = reference.get(field).and_then(Value::as_str) else {
        return error(id, code::INVALID_PARAMS, REF_HELP, None);
    };
    let (index, held) = match access(gw, caller, id, "completion/complete", name, started).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let prompt = field == "name";
    let not_found = || {
        if prompt {
            prompt_not_found(id, name)
        } else {
            resource_not_found(caller, id, name)
        }
    };
    let target = Target {
        method: "completion/complete",
        name,
        not_found: &not_found,
        bound: false,
    };
    let route = if prompt {
        route_prompt(gw, caller, &index, &held, name).await
    } else {
        route_resource(gw, caller, (&index, &held), name).await
    };
    match route {
        Route::To(server, native) => {
            let mut reference = reference.clone();
            reference[field] = json!(native);
            let mut downstream = json!({"ref": reference, "argument": argument});
            if let Some(context) = params.get("context").filter(|c| c.is_object()) {
                downstream["context"] = context.clone();
            }
            forward(
                gw,
                caller,
                id,
                params,
                &target,
                (server, downstream),
                started,
            )
            .await
        }
        Route::Nowhere(m) => nowhere(gw, caller, id, params, &target, m, started),
    }
}

/// One piece of a URI template.
#[derive(Debug, PartialEq)]
enum Part<'a> {
    Literal(&'a str),
    /// An expression, by its operator (`'\0'` for simple string expansion).
    Expr(char),
}

fn parse_template(t: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let mut rest = t;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => match rest.find('}') {
                Some(end) => {
                    let op = rest[1..end]
                        .chars()
                        .next()
                        .filter(|c| "+#./;?&".contains(*c))
                        .unwrap_or('\0');
                    parts.push(Part::Expr(op));
                    rest = &rest[end + 1..];
                }
                None => {
                    parts.push(Part::Literal(rest));
                    rest = "";
                }
            },
            Some(i) => {
                parts.push(Part::Literal(&rest[..i]));
                rest = &rest[i..];
            }
            None => {
                parts.push(Part::Literal(rest));
                rest = "";
            }
        }
    }
    parts
}

/// Whether `uri` is an expansion of URI template `template` (RFC 6570 operators; routing
/// only, so values are not decoded). Simple and `+` expansions must not be empty; a simple one
/// stops at `/`, `?` and `#`.
pub fn template_matches(template: &str, uri: &str) -> bool {
    if template.len() > 2048 || uri.len() > 8192 {
        return false;
    }
    let parts = parse_template(template);
    let mut budget = 100_000u32;
    match_parts(&parts, uri, &mut budget)
}

fn match_parts(parts: &[Part], uri: &str, budget: &mut u32) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let Some((first, rest)) = parts.split_first() else {
        return uri.is_empty();
    };
    match first {
        Part::Literal(l) => uri
            .strip_prefix(l)
            .is_some_and(|r| match_parts(rest, r, budget)),
        Part::Expr(op) => {
            // The longest prefix of `uri` this expression could have produced; it may
            // produce any shorter one too (down to its minimum).
            let (lead, stops, min): (Option<char>, &str, usize) = match op {
                '+' => (None, "", 1),
                '#' => (Some('#'), "", 0),
                '.' => (Some('.'), "/?#", 0),
                '/' => (Some('/'), "?#", 0),
                ';' => (Some(';'), "/?#", 0),
                '?' => (Some('?'), "#", 0),
                '&' => (Some('&'), "#", 0),
                _ => (None, "/?#", 1),
            };
            let max = match lead {
                Some(c) if !uri.starts_with(c) => 0,
                _ => {
                    let skip = lead.map_or(0, char::len_utf8);
                    skip + uri[skip..]
                        .find(|c| stops.contains(c))
                        .unwrap_or(uri.len() - skip)
                }
            };
            (min..=max)
                .rev()
                .filter(|k| uri.is_char_boundary(*k))
                .any(|k| match_parts(rest, &uri[k..], budget))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Exposed name → (server id, native name).
    fn prompt_names(listed: &[(&McpServer, Vec<Value>)]) -> HashMap<String, (String, String)> {
        named_prompts(listed)
            .into_iter()
            .map(|p| (p.exposed, (p.server.connector_id.clone(), p.native)))
            .collect()
    }

    #[test]
    fn templates_match_their_expansions() {
        let t = "test://template/{id}/data";
        assert!(template_matches(t, "test://template/123/data"));
        assert!(template_matches(t, t));
        assert!(!template_matches(t, "test://template//data"));
        assert!(!template_matches(t, "test://template/1/2/data"));
        assert!(!template_matches(t, "test://template/123/data/more"));
        assert!(template_matches("file:///{+path}", "file:///a/b/c.txt"));
        assert!(template_matches(
            "repo://{owner}/{name}{?ref}",
            "repo://me/x"
        ));
        assert!(template_matches(
            "repo://{owner}/{name}{?ref}",
            "repo://me/x?ref=main"
        ));
        assert!(!template_matches("repo://{owner}/{name}", "repo://me"));
        assert!(template_matches("db://t{/path*}", "db://t/a/b"));
        assert!(template_matches("x://{a}{b}{c}", "x://abc"));
        // Pathological input ends within the budget.
        let many = "{a}".repeat(600);
        assert!(!template_matches(&many, &"a".repeat(8000)));
    }

    fn server(id: &str, prefix: &str, created: i64) -> McpServer {
        McpServer {
            connector_id: id.into(),
            display_name: id.to_uppercase(),
            tool_prefix: prefix.into(),
            created_at: Some(chamberlain_model::Timestamp::from_micros(created)),
            ..Default::default()
        }
    }

    #[test]
    fn prompts_are_named_like_tools() {
        let a = server("a", "fx", 1);
        let b = server("b", "fx", 2);
        let c = server("c", "", 3);
        let p = |n: &str| json!({"name": n, "description": "d"});
        let listed = vec![
            (&a, vec![p("greet"), p("sum up")]),
            (&b, vec![p("greet")]),
            (&c, vec![p("plain"), json!({"description": "no name"})]),
        ];
        let names = prompt_names(&listed);
        assert_eq!(names.len(), 4);
        assert_eq!(names["fx_greet"], ("a".into(), "greet".into()));
        assert_eq!(names["fx_sum_up"], ("a".into(), "sum up".into()));
        assert_eq!(names["plain"], ("c".into(), "plain".into()));
        let hashed = names.keys().find(|k| k.starts_with("fx_greet_")).unwrap();
        assert_eq!(names[hashed], ("b".into(), "greet".into()));
        // Every name stays with the servers whose prefix fits it.
        for (name, (server, _)) in &names {
            let s = [&a, &b, &c]
                .into_iter()
                .find(|s| s.connector_id == *server)
                .unwrap();
            assert!(could_expose(s.effective_prefix(), name), "{name}");
        }
        assert!(!could_expose("fx", "fxgreet"));
        assert!(!could_expose("fx", "other_greet"));
        assert!(could_expose("", "anything"));
    }
}
