//! Chamberlain's web app: server-rendered pages for employees (request access, my requests, my
//! access, tasks, AI & API) and admins, on the same sign-in as the MCP OAuth pages.
//!
//! - No front-end build: HTML is rendered here, one stylesheet and one small script are
//!   compiled into the binary (`assets/`), and every page works without the script.
//! - Pages call the `/api/v1` handlers in process as the signed-in user ([`api::Api`]), so
//!   what a page may show or change is decided by the API's own authorization.
//! - Forms post back with the session's CSRF token ([`viewer::Form`]) and redirect to a page
//!   that shows the outcome; refusals re-render the form with the API's message.

mod admin;
pub mod api;
mod employee;
mod profile;
pub mod ui;
pub mod viewer;

use axum::extract::FromRef;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chamberlain_api::Shared;

/// What every page handler has.
#[derive(Clone)]
pub struct Web {
    /// The server's shared state (sessions, settings).
    pub shared: Shared,
    /// The API, called in process.
    pub api: api::Api,
}

impl FromRef<Web> for Shared {
    fn from_ref(w: &Web) -> Shared {
        w.shared.clone()
    }
}

/// The whole HTTP application: the API, the public endpoints and the web app.
pub fn app(state: Shared) -> Router {
    let web = Web {
        shared: state.clone(),
        api: api::Api::new(chamberlain_api::api_router(state.clone())),
    };
    chamberlain_api::app_with_pages(state, pages().with_state(web))
}

fn pages() -> Router<Web> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/requests") }))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route("/profile", get(profile::page))
        .route("/profile/signout-others", post(profile::sign_out_others))
        .merge(employee::routes())
        .merge(admin::routes())
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}
