//! The admin pages. Each section is its own module with its own routes; the API decides what
//! each admin may see and change (a read-only admin sees the pages and gets the API's refusal
//! when changing something).

mod ai;
mod settings;

use crate::Web;
use axum::Router;

pub(crate) fn routes() -> Router<Web> {
    Router::new().merge(ai::routes()).merge(settings::routes())
}
