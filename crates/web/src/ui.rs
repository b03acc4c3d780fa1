//! The pages' shared parts: the shell (header, navigation, profile menu), tables with pagination,
//! notices, form fields and badges. Every interpolated value goes through [`esc`].

use crate::viewer::Viewer;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub use chamberlain_api::oauth::pages::escape as esc;

/// The sections of the navigation, to mark the current one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Section {
    /// Requests (the catalog).
    Requests,
    /// My requests.
    MyRequests,
    /// My access.
    MyAccess,
    /// Tasks.
    Tasks,
    /// Profile menu pages (AI & API, sessions).
    Profile,
    /// Admin: apps.
    Apps,
    /// Admin: directory.
    Directory,
    /// Admin: users.
    Users,
    /// Admin: access profiles.
    Profiles,
    /// Admin: policies.
    Policies,
    /// Admin: AI.
    Ai,
    /// Admin: system log.
    SystemLog,
    /// Admin: settings.
    Settings,
}

const EMPLOYEE_NAV: &[(Section, &str, &str)] = &[
    (Section::Requests, "/requests", "Requests"),
    (Section::MyRequests, "/requests/mine", "My requests"),
    (Section::MyAccess, "/access", "My access"),
    (Section::Tasks, "/tasks", "Tasks"),
];

const ADMIN_NAV: &[(Section, &str, &str)] = &[
    (Section::Apps, "/admin/apps", "Apps"),
    (Section::Directory, "/admin/directory", "Directory"),
    (Section::Users, "/admin/users", "Users"),
    (Section::Profiles, "/admin/profiles", "Access profiles"),
    (Section::Policies, "/admin/policies", "Policies"),
    (Section::Ai, "/admin/ai", "AI"),
    (Section::SystemLog, "/admin/system-log", "System log"),
    (Section::Settings, "/admin/settings", "Settings"),
];

/// A page to render inside the shell.
pub struct Page {
    /// `<title>` and `<h1>`.
    pub title: String,
    /// Navigation entry to highlight.
    pub section: Section,
    /// Body HTML (already escaped).
    pub body: String,
    /// Status code.
    pub status: StatusCode,
}

impl Page {
    /// A 200 page.
    pub fn new(section: Section, title: impl Into<String>, body: String) -> Self {
        Self {
            title: title.into(),
            section,
            body,
            status: StatusCode::OK,
        }
    }

    /// With another status code.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The whole document for `viewer`.
    pub fn render(self, v: &Viewer) -> Response {
        let nav = |items: &[(Section, &str, &str)]| {
            items
                .iter()
                .map(|(s, href, label)| {
                    let current = if *s == self.section {
                        " aria-current=\"page\""
                    } else {
                        ""
                    };
                    format!("<a href=\"{href}\"{current}>{label}</a>")
                })
                .collect::<String>()
        };
        let admin = if v.is_admin() {
            format!(
                "<nav class=\"admin\" aria-label=\"Administration\"><span class=\"navlabel\">Admin</span>{}</nav>",
                nav(ADMIN_NAV)
            )
        } else {
            String::new()
        };
        let doc = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title} · Chamberlain</title><link rel=\"stylesheet\" href=\"/assets/app.css\">\
<script src=\"/assets/app.js\" defer></script></head><body>\
<a class=\"skip\" href=\"#main\">Skip to content</a>\
<header class=\"top\"><a class=\"brand\" href=\"/\">Chamberlain</a>\
<nav class=\"main\" aria-label=\"Main\">{main}</nav>\
<details class=\"menu\" id=\"profile-menu\"><summary>{name}</summary><div class=\"menu-items\">\
<a href=\"/ai-api\">AI &amp; API</a><a href=\"/profile\">Profile and sessions</a>\
<form method=\"post\" action=\"/auth/v1/signout\">{csrf}<button type=\"submit\" class=\"link\">Sign out</button></form>\
</div></details></header>{admin}\
<main id=\"main\"><h1>{title}</h1>{body}</main></body></html>",
            title = esc(&self.title),
            main = nav(EMPLOYEE_NAV),
            name = esc(v.name()),
            csrf = csrf(v),
            body = self.body,
        );
        let mut resp = html(self.status, doc);
        if let Some(c) = &v.set_csrf {
            resp.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        resp
    }
}

/// An HTML response with the headers every page carries: no caching, no framing, no sniffing,
/// and a content security policy that allows only this server's stylesheet and script.
pub fn html(status: StatusCode, doc: String) -> Response {
    let mut resp = (status, doc).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

/// The hidden CSRF field of a form.
pub fn csrf(v: &Viewer) -> String {
    hidden("csrf", &v.csrf)
}

/// A hidden field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

/// A notice box: `kind` is `ok` or `error`.
pub fn notice(kind: &str, text: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!(
        "<p class=\"notice {kind}\" role=\"{role}\" id=\"notice\">{}</p>",
        esc(text)
    )
}

/// The notice named by a `?done=` query value after a form redirect (fixed texts only, so a
/// link cannot put words in the page).
pub fn done_notice(key: &str) -> String {
    let text = match key {
        "requested" => "Your request was submitted.",
        "cancelled" => "The request was cancelled.",
        "approved" => "Approved.",
        "denied" => "Denied.",
        "reassigned" => "Reassigned.",
        "commented" => "Comment added.",
        "returned" => "A request to remove this access was submitted.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "revoked" => "Revoked.",
        "signed-out-elsewhere" => "Every other session was signed out.",
        "synced" => "A sync was started.",
        "uploaded" => "The file was imported.",
        "created" => "Created.",
        "published" => "Published: people it is visible to see it under Requests.",
        "unpublished" => "Unpublished: it no longer appears under Requests.",
        "ran" => "The automation ran.",
        "resumed" => "Resumed: the next run applies in full.",
        "paused" => "Syncs are paused.",
        "sync-resumed" => "Syncs are resumed.",
        "removed" => "Removed.",
        "registered" => "The MCP server was registered and tool discovery ran (see Last discovery). Discovery does not prove the credentials work: that shows when an approved user calls a tool.",
        "resynced" => "Tool discovery ran again.",
        "killed" => "Switched off. Calls are refused until it is switched back on.",
        "reopened" => "Switched back on.",
        "closed" => "Closed.",
        "bound" => "The tools were added to the toolset.",
        "unbound" => "The tools were removed from the toolset.",
        "tested" => "A test message was sent.",
        _ => return String::new(),
    };
    notice("ok", text)
}

/// A table; `empty` is shown instead when there are no rows.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\" id=\"{id}-empty\">{}</p>", esc(empty));
    }
    let head: String = headers
        .iter()
        .map(|h| format!("<th scope=\"col\">{}</th>", esc(h)))
        .collect();
    let body: String = rows
        .iter()
        .map(|r| {
            let cells: String = r
                .iter()
                .zip(headers.iter())
                .map(|(c, h)| format!("<td data-label=\"{}\">{c}</td>", esc(h)))
                .collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    format!("<div class=\"table\"><table id=\"{id}\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
}

/// "Next page" link for keyset pagination: `base` is the page's path with its other query
/// parameters (`?` included or not).
pub fn pager(base: &str, next_token: &str) -> String {
    if next_token.is_empty() {
        return String::new();
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!(
        "<nav class=\"pager\" aria-label=\"Pages\"><a rel=\"next\" href=\"{}{sep}page={}\">Next page →</a></nav>",
        esc(base),
        crate::api::enc(next_token)
    )
}

/// A search box that submits with GET.
pub fn search_form(action: &str, q: &str, placeholder: &str, extra: &str) -> String {
    format!(
        "<form class=\"search\" method=\"get\" action=\"{}\" role=\"search\"><label for=\"q\" class=\"sr\">Search</label>\
<input id=\"q\" type=\"search\" name=\"q\" value=\"{}\" placeholder=\"{}\">{extra}<button type=\"submit\">Search</button></form>",
        esc(action),
        esc(q),
        esc(placeholder)
    )
}

/// A labelled text input.
pub fn text_field(label: &str, name: &str, value: &str, attrs: &str) -> String {
    format!(
        "<label for=\"f-{name}\">{}</label><input id=\"f-{name}\" name=\"{name}\" value=\"{}\" {attrs}>",
        esc(label),
        esc(value)
    )
}

/// A labelled textarea.
pub fn text_area(label: &str, name: &str, value: &str, attrs: &str) -> String {
    format!(
        "<label for=\"f-{name}\">{}</label><textarea id=\"f-{name}\" name=\"{name}\" rows=\"3\" {attrs}>{}</textarea>",
        esc(label),
        esc(value)
    )
}

/// A labelled select from `(value, label)` options.
pub fn select(label: &str, name: &str, options: &[(String, String)], selected: &str) -> String {
    let opts: String = options
        .iter()
        .map(|(v, l)| {
            let sel = if v == selected { " selected" } else { "" };
            format!("<option value=\"{}\"{sel}>{}</option>", esc(v), esc(l))
        })
        .collect();
    format!(
        "<label for=\"f-{name}\">{}</label><select id=\"f-{name}\" name=\"{name}\">{opts}</select>",
        esc(label)
    )
}

/// A small coloured label.
pub fn badge(kind: &str, text: &str) -> String {
    format!("<span class=\"badge {kind}\">{}</span>", esc(text))
}

/// A link.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// A one-button form posting to `action` (with CSRF); `confirm` asks first when not empty.
pub fn action_button(v: &Viewer, action: &str, label: &str, class: &str, confirm: &str) -> String {
    let confirm = if confirm.is_empty() {
        String::new()
    } else {
        format!(" data-confirm=\"{}\"", esc(confirm))
    };
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\"{confirm}>{}<button type=\"submit\" class=\"{class}\">{}</button></form>",
        esc(action),
        csrf(v),
        esc(label)
    )
}

/// A protojson timestamp shown as `YYYY-MM-DD HH:MM UTC` (empty stays empty).
pub fn when(ts: &str) -> String {
    if ts.len() < 16 {
        return esc(ts);
    }
    format!(
        "<time datetime=\"{}\">{} {} UTC</time>",
        esc(ts),
        esc(&ts[..10]),
        esc(&ts[11..16])
    )
}

/// A protojson duration (`"3600s"`) in words.
pub fn duration(d: &str) -> String {
    let secs: u64 = d
        .trim_end_matches('s')
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if secs == 0 {
        return String::new();
    }
    let (n, unit) = if secs.is_multiple_of(86_400) {
        (secs / 86_400, "day")
    } else if secs.is_multiple_of(3_600) {
        (secs / 3_600, "hour")
    } else if secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
