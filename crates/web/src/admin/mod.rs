//! The admin pages. Each module owns its routes; what a page may show or change is decided by
//! the API it calls as the signed-in admin.

mod directory;
mod policies;
mod profiles;

use crate::Web;
use axum::Router;

pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .merge(directory::routes())
        .merge(policies::routes())
        .merge(profiles::routes())
}
