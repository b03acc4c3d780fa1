//! The admin pages. Each module owns its routes; every page calls the API as the signed-in
//! admin, so what each admin may see or change is the API's decision (a read-only admin sees,
//! and is refused changes).

mod ai;
mod apps;
mod directory;
mod policies;
mod profiles;
mod settings;
mod systemlog;
mod users;

use crate::Web;
use axum::Router;

pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .merge(ai::routes())
        .merge(apps::routes())
        .merge(directory::routes())
        .merge(policies::routes())
        .merge(profiles::routes())
        .merge(settings::routes())
        .merge(systemlog::routes())
        .merge(users::routes())
}
