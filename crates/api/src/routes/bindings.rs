//! `c1.api.app.v1.AppEntitlementsProxy`: a grant of the source entitlement implies the
//! destination entitlement.

use super::common;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::expand::{types, Expander};
use crate::extract::Body;
use crate::state::{AppState, Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::app::{AppEntitlement, AppEntitlementProxy};
use chamberlain_store::repo::grants;
use serde_json::{json, Value};

type Ids = (String, String, String, String);

async fn ends(s: &AppState, (sa, se, da, de): &Ids) -> ApiResult<(AppEntitlement, AppEntitlement)> {
    let src = common::entitlement(s, sa, se).await?;
    let dst = common::entitlement(s, da, de).await?;
    Ok((src, dst))
}

fn view(p: &AppEntitlementProxy, src: &AppEntitlement, dst: &AppEntitlement) -> Value {
    let mut ex = Expander::default();
    let v = json!({
        "appProxyEntitlement": p,
        "srcAppEntitlementPath": ex.add(types::ENTITLEMENT, &src.id, src),
        "dstAppEntitlementPath": ex.add(types::ENTITLEMENT, &dst.id, dst),
        "srcAppPath": "",
        "dstAppPath": "",
    });
    json!({"appProxyEntitlementView": v, "expanded": ex.finish()})
}

/// `GET /api/v1/apps/{src_app_id}/{src_ent}/bindings/{dst_app_id}/{dst_ent}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path(ids): Path<Ids>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let (src, dst) = ends(&s, &ids).await?;
    let proxy = grants::find_binding(&s.store, &src.id, &dst.id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no binding from entitlement `{}` to `{}`",
                src.id, dst.id
            ))
        })?;
    Ok(Json(view(&proxy, &src, &dst)))
}

/// `POST …/bindings/…`: creates the binding and implies the destination for current holders.
/// Needs write access to both apps.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Path(ids): Path<Ids>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("src_app_id", &ids.0)?;
    common::check_id("dst_app_id", &ids.2)?;
    authz::require_app_write(&s, &caller, &ids.0).await?;
    authz::require_app_write(&s, &caller, &ids.2).await?;
    let (src, dst) = ends(&s, &ids).await?;
    let proxy = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        grants::create_binding(tx, &src, &dst).await
    })?;
    Ok(Json(view(&proxy, &src, &dst)))
}

/// `DELETE …/bindings/…`: removes the binding and the grants it alone justified.
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path(ids): Path<Ids>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("src_app_id", &ids.0)?;
    common::check_id("dst_app_id", &ids.2)?;
    authz::require_app_write(&s, &caller, &ids.0).await?;
    authz::require_app_write(&s, &caller, &ids.2).await?;
    let (src, dst) = ends(&s, &ids).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        grants::delete_binding(tx, &src, &dst).await
    })?;
    Ok(Json(json!({})))
}
