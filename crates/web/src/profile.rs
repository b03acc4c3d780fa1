//! The profile menu's own page: who I am, and signing out my other sessions.

use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use chamberlain_store::repo::web_auth;
use chamberlain_store::AuditCtx;

/// `GET /profile`.
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(q): RawQuery) -> Response {
    let done = crate::employee::query(&q, "done");
    let sessions = web_auth::session_count(&w.shared.store, &v.user.id)
        .await
        .unwrap_or(1);
    let roles: Vec<&str> = v.roles.iter().map(|r| r.display_name()).collect();
    let body = format!(
        "{}<div class=\"card\"><dl class=\"facts\"><dt>Name</dt><dd>{}</dd><dt>Email</dt><dd id=\"profile-email\">{}</dd>\
<dt>Department</dt><dd>{}</dd><dt>Job title</dt><dd>{}</dd><dt>Roles</dt><dd>{}</dd></dl></div>\
<h2>Sessions</h2><p>You are signed in to Chamberlain in <strong id=\"session-count\">{sessions}</strong> browser session(s). \
Signing out everywhere else ends every session but this one (for example a browser you left signed in on another computer).</p>\
<div class=\"actions\">{}{}</div>",
        ui::done_notice(&done),
        esc(v.name()),
        esc(&v.user.email),
        esc(&v.user.department),
        esc(&v.user.job_title),
        esc(&roles.join(", ")),
        ui::action_button(&v, "/profile/signout-others", "Sign out everywhere else", "secondary", "Sign out every other session?"),
        format_args!(
            "<form method=\"post\" action=\"/auth/v1/signout\" class=\"inline\">{}<button type=\"submit\">Sign out</button></form>",
            ui::csrf(&v)
        ),
    );
    Page::new(Section::Profile, "Profile and sessions", body).render(&v)
}

/// `POST /profile/signout-others`.
pub async fn sign_out_others(State(w): State<Web>, v: Viewer, _f: Form) -> Response {
    let ctx = AuditCtx {
        actor_user_id: v.user.id.clone(),
        actor_client_id: "web".into(),
        request_id: chamberlain_api::error::current_request_id(),
    };
    let (uid, keep) = (v.user.id.clone(), v.session_id.clone());
    match chamberlain_store::write_tx!(w.shared.store, &ctx, |tx| {
        web_auth::delete_other_sessions(tx, &uid, &keep).await
    }) {
        Ok(_) => Redirect::to("/profile?done=signed-out-elsewhere").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "signing out other sessions failed");
            Page::new(
                Section::Profile,
                "Profile and sessions",
                ui::notice("error", "Signing out the other sessions failed; try again."),
            )
            .status(axum::http::StatusCode::SERVICE_UNAVAILABLE)
            .render(&v)
        }
    }
}
