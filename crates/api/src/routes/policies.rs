//! Policies: CEL validation (`c1.api.policy.v1.PolicyValidate`).

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::Caller;
use axum::Json;
use chamberlain_cel::{Expression, Purpose};
use serde::Deserialize;
use serde_json::{json, Value};

/// `c1.api.policy.v1.EditorValidateRequest`, plus the Chamberlain extension `purpose` (a
/// `chamberlain_cel::Purpose` name; default `policy_condition`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ValidateRequest {
    text: String,
    purpose: Option<String>,
}

/// `POST /api/v1/policies/validate/cel`: the checker's markers for the expression (empty when
/// it is valid). Any authenticated caller may validate; nothing is stored.
pub async fn validate_cel(
    _caller: Caller,
    Body(req): Body<ValidateRequest>,
) -> ApiResult<Json<Value>> {
    let purpose = match req.purpose.as_deref() {
        None | Some("") => Purpose::PolicyCondition,
        Some(name) => Purpose::from_name(name).ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown purpose `{name}`; valid: {}",
                Purpose::ALL
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
    };
    let markers: Vec<Value> = Expression::validate(purpose, &req.text)
        .into_iter()
        .map(|m| {
            json!({
                "startLineNumber": m.start_line_number,
                "startColumn": m.start_column,
                "endLineNumber": m.end_line_number,
                "endColumn": m.end_column,
                "message": m.message,
                "severity": "ERROR",
            })
        })
        .collect();
    Ok(Json(json!({ "markers": markers })))
}
