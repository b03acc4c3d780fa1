//! Who is looking at a page: the signed-in user of the request's session (resolved on every
//! request, so a disabled user or a changed role takes effect at once), and the posted forms,
//! accepted only with the session's CSRF token.

use crate::Web;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use chamberlain_api::oauth::session;
use chamberlain_model::principal::{Principal, Role};
use chamberlain_model::user::User;

/// The signed-in user of a page request.
#[derive(Clone)]
pub struct Viewer {
    /// The user, as stored now.
    pub user: User,
    /// Their roles now (basic user when none).
    pub roles: Vec<Role>,
    /// The session's record id.
    pub session_id: String,
    /// The CSRF token every form on the page carries.
    pub csrf: String,
    /// A CSRF cookie to set when the browser had none.
    pub set_csrf: Option<HeaderValue>,
}

impl Viewer {
    /// The principal API calls are made as (no client: the user in a browser).
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user.id.clone(),
            client_id: None,
            roles: self.roles.clone(),
            connector: None,
        }
    }

    /// Sees the admin pages (any admin role; the API still decides each call).
    pub fn is_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| matches!(r, Role::SuperAdmin | Role::ReadOnlyAdmin | Role::AppAdmin))
    }

    /// May change tenant-wide settings.
    pub fn is_super_admin(&self) -> bool {
        self.roles.contains(&Role::SuperAdmin)
    }

    /// The name shown in the header.
    pub fn name(&self) -> &str {
        if self.user.display_name.is_empty() {
            &self.user.email
        } else {
            &self.user.display_name
        }
    }
}

impl<S> FromRequestParts<S> for Viewer
where
    Web: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let web = Web::from_ref(state);
        let Some((s, user)) = session::current(&web.shared, &parts.headers).await else {
            // Back to this page after signing in (a form post returns to the page it was on).
            let back = if parts.method == Method::GET {
                parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into())
            } else {
                "/".into()
            };
            return Err(session::signin_redirect(&back));
        };
        let mut roles: Vec<Role> = user
            .role_ids
            .iter()
            .filter_map(|r| Role::parse(r))
            .collect();
        if roles.is_empty() {
            roles.push(Role::BasicUser);
        }
        let (csrf, set_csrf) = session::csrf_token(&web.shared, &parts.headers);
        Ok(Viewer {
            user,
            roles,
            session_id: s.id,
            csrf,
            set_csrf,
        })
    }
}

/// A posted form whose CSRF token (and `Origin`, when sent) were checked.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of field `k` (trimmed), empty when absent.
    pub fn get(&self, k: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// Every value of field `k` (checkbox lists, multi-selects), non-empty only.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// Whether checkbox `k` was ticked.
    pub fn checked(&self, k: &str) -> bool {
        matches!(self.get(k), "on" | "true" | "1" | "yes")
    }
}

impl<S> FromRequest<S> for Form
where
    Web: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let web = Web::from_ref(state);
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let pairs = chamberlain_api::extract::url_pairs(&String::from_utf8_lossy(&body));
        let token = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        session::check_csrf(&web.shared, &headers, token)?;
        Ok(Form(pairs))
    }
}
