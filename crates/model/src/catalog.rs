//! Access profiles (`c1.api.requestcatalog.v1.RequestCatalog`), their membership automation
//! (`BundleAutomation`) and the per-entitlement automation (`c1.api.app.v1.AppEntitlementAutomation`).
//!
//! Each catalog is represented in Chamberlain's built-in app by a resource and an *enrollment
//! entitlement*; membership of the catalog is a grant of that entitlement. Its id is served in
//! the Chamberlain extension field `enrollmentEntitlementId`.

use crate::app::{AppEntitlement, AppEntitlementRef};
use crate::protojson::{int64_string, Timestamp};
use crate::wire_enum;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

wire_enum!(
    /// How the request policies of a catalog's entitlements apply on enrollment.
    EnrollmentBehavior {
        Unspecified = "REQUEST_CATALOG_ENROLLMENT_BEHAVIOR_UNSPECIFIED",
        Bypass = "REQUEST_CATALOG_ENROLLMENT_BEHAVIOR_BYPASS_ENTITLEMENT_REQUEST_POLICY",
        Enforce = "REQUEST_CATALOG_ENROLLMENT_BEHAVIOR_ENFORCE_ENTITLEMENT_REQUEST_POLICY",
    }
);

wire_enum!(
    /// What happens to a member's access when they leave the catalog.
    UnenrollmentBehavior {
        Unspecified = "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_UNSPECIFIED",
        LeaveAccessAsIs = "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_LEAVE_ACCESS_AS_IS",
        RevokeAll = "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_REVOKE_ALL",
        RevokeUnjustified = "REQUEST_CATALOG_UNENROLLMENT_BEHAVIOR_REVOKE_UNJUSTIFIED",
    }
);

wire_enum!(
    /// Whether each entitlement's revoke policy applies on unenrollment.
    UnenrollmentEntitlementBehavior {
        Unspecified = "REQUEST_CATALOG_UNENROLLMENT_ENTITLEMENT_BEHAVIOR_UNSPECIFIED",
        Bypass = "REQUEST_CATALOG_UNENROLLMENT_ENTITLEMENT_BEHAVIOR_BYPASS",
        Enforce = "REQUEST_CATALOG_UNENROLLMENT_ENTITLEMENT_BEHAVIOR_ENFORCE",
    }
);

/// `c1.api.requestcatalog.v1.RequestCatalog`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RequestCatalog {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub published: bool,
    pub visible_to_everyone: bool,
    pub request_bundle: bool,
    /// Output only: expanded from the catalog's visibility bindings when served (stored empty).
    pub access_entitlements: Vec<AppEntitlement>,
    pub annotations: BTreeMap<String, String>,
    pub created_by_user_id: String,
    pub enrollment_behavior: EnrollmentBehavior,
    pub unenrollment_behavior: UnenrollmentBehavior,
    pub unenrollment_entitlement_behavior: UnenrollmentEntitlementBehavior,
    /// Chamberlain extension (read-only): the catalog's enrollment entitlement in the built-in
    /// app; a live grant of it to a user's account there is membership of the catalog.
    pub enrollment_entitlement_id: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl RequestCatalog {
    /// Fields a client may change with `POST /api/v1/catalogs/{id}`.
    pub const WRITABLE: &'static [&'static str] = &[
        "displayName",
        "description",
        "published",
        "visibleToEveryone",
        "requestBundle",
        "annotations",
        "enrollmentBehavior",
        "unenrollmentBehavior",
        "unenrollmentEntitlementBehavior",
    ];
}

/// `c1.api.requestcatalog.v1.RequestableEntry`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RequestableEntry {
    pub app_id: String,
    pub catalog_id: String,
    pub entitlement_id: String,
}

wire_enum!(
    /// Outcome of a bundle automation run.
    BundleRunStatus {
        Unspecified = "BUNDLE_AUTOMATION_RUN_STATUS_UNSPECIFIED",
        Success = "BUNDLE_AUTOMATION_RUN_STATUS_SUCCESS",
        Failure = "BUNDLE_AUTOMATION_RUN_STATUS_FAILURE",
        InProgress = "BUNDLE_AUTOMATION_RUN_STATUS_IN_PROGRESS",
        WaitingForApproval = "BUNDLE_AUTOMATION_RUN_STATUS_WAITING_FOR_APPROVAL",
    }
);

wire_enum!(
    /// State of an automation's circuit breaker.
    CircuitBreakerState {
        Unspecified = "CIRCUIT_BREAKER_STATE_UNSPECIFIED",
        Triggered = "CIRCUIT_BREAKER_STATE_TRIGGERED",
        Bypass = "CIRCUIT_BREAKER_STATE_BYPASS",
        SupportDisabled = "CIRCUIT_BREAKER_STATE_SUPPORT_DISABLED",
    }
);

/// `…BundleAutomationRuleEntitlement` / `c1.api.app.v1.AppEntitlementAutomationRuleEntitlement`:
/// users holding any of these entitlements satisfy the rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntitlementRule {
    pub entitlement_refs: Vec<AppEntitlementRef>,
}

/// `…BundleAutomationRuleCEL` and the `cel`/`basic` rules of entitlement automation: users for
/// whom the expression (`subject: User`, result bool) is true satisfy the rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CelRule {
    pub expression: String,
}

/// `c1.api.requestcatalog.v1.BundleAutomationCircuitBreaker`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CircuitBreaker {
    #[serde(with = "int64_string")]
    pub removed_members_threshold_percentage: i64,
    pub state: CircuitBreakerState,
    pub updated_at: Option<Timestamp>,
    pub user_ref: Option<Value>,
}

/// `c1.api.requestcatalog.v1.BundleAutomationCelEvaluationState`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CelEvaluationState {
    pub error_message: String,
    pub last_evaluated_at: Option<Timestamp>,
    #[serde(with = "int64_string")]
    pub matched_users: i64,
    pub status: BundleRunStatus,
}

/// `c1.api.requestcatalog.v1.BundleAutomationLastRunState`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LastRunState {
    pub cel_evaluation: Option<CelEvaluationState>,
    pub error_message: String,
    pub last_run_at: Option<Timestamp>,
    pub status: BundleRunStatus,
}

/// Default share of members a run may remove before the circuit breaker pauses it.
pub const DEFAULT_REMOVED_MEMBERS_THRESHOLD_PERCENT: i64 = 20;

/// `c1.api.requestcatalog.v1.BundleAutomation`: membership automation of an access profile.
/// The conditions are a oneof: `entitlements` or `cel`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BundleAutomation {
    pub request_catalog_id: String,
    pub tenant_id: String,
    pub entitlements: Option<EntitlementRule>,
    pub cel: Option<CelRule>,
    pub create_tasks: bool,
    pub enabled: bool,
    pub circuit_breaker: Option<CircuitBreaker>,
    pub disable_circuit_breaker: bool,
    pub enforce_on_small_profiles: bool,
    /// 1–100; 0 on input means the default (20).
    #[serde(with = "int64_string")]
    pub removed_members_threshold_percent: i64,
    pub state: Option<LastRunState>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl BundleAutomation {
    /// Whether the circuit breaker has paused the automation (until resumed).
    pub fn is_paused(&self) -> bool {
        self.circuit_breaker
            .as_ref()
            .is_some_and(|c| c.state == CircuitBreakerState::Triggered)
    }
    /// Whether an admin resumed it: the next run applies even if it would trip the breaker.
    pub fn is_resumed(&self) -> bool {
        self.circuit_breaker
            .as_ref()
            .is_some_and(|c| c.state == CircuitBreakerState::Bypass)
    }
}

wire_enum!(
    /// Outcome of an entitlement automation run.
    EntitlementRunStatus {
        Unspecified = "APP_ENTITLEMENT_AUTOMATION_RUN_STATUS_UNSPECIFIED",
        Success = "APP_ENTITLEMENT_AUTOMATION_RUN_STATUS_SUCCESS",
        Failed = "APP_ENTITLEMENT_AUTOMATION_RUN_STATUS_FAILED",
        InProgress = "APP_ENTITLEMENT_AUTOMATION_RUN_STATUS_IN_PROGRESS",
    }
);

/// `c1.api.app.v1.AppEntitlementAutomationLastRunStatus`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntitlementLastRunStatus {
    pub error_message: String,
    pub last_completed_at: Option<Timestamp>,
    pub status: EntitlementRunStatus,
}

/// `c1.api.app.v1.AppEntitlementAutomation`: dynamic membership of one entitlement. The
/// conditions are a oneof: `none`, `entitlements`, `cel` or `basic` (a CEL expression too).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppEntitlementAutomation {
    pub app_entitlement_id: String,
    pub app_id: String,
    pub display_name: String,
    pub description: String,
    pub none: Option<Map<String, Value>>,
    pub entitlements: Option<EntitlementRule>,
    pub cel: Option<CelRule>,
    pub basic: Option<CelRule>,
    pub last_run_status: Option<EntitlementLastRunStatus>,
    pub managed_by_request_catalog_id: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl AppEntitlementAutomation {
    /// Fields a client may change with `POST …/automation/update`.
    pub const WRITABLE: &'static [&'static str] = &[
        "displayName",
        "description",
        "none",
        "entitlements",
        "cel",
        "basic",
    ];
    /// The oneof members.
    pub const CONDITIONS: &'static [&'static str] = &["none", "entitlements", "cel", "basic"];

    /// How many of the oneof conditions are set.
    pub fn conditions_set(&self) -> usize {
        usize::from(self.none.is_some())
            + usize::from(self.entitlements.is_some())
            + usize::from(self.cel.is_some())
            + usize::from(self.basic.is_some())
    }
    /// The CEL source, when the condition is `cel` or `basic`.
    pub fn expression(&self) -> Option<&str> {
        self.cel
            .as_ref()
            .or(self.basic.as_ref())
            .map(|c| c.expression.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_automation_wire_form() {
        let b = BundleAutomation {
            removed_members_threshold_percent: 20,
            ..Default::default()
        };
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["removedMembersThresholdPercent"], "20");
        assert!(v["cel"].is_null());
        let back: BundleAutomation =
            serde_json::from_value(serde_json::json!({"removedMembersThresholdPercent": 30}))
                .unwrap();
        assert_eq!(back.removed_members_threshold_percent, 30);
        assert!(serde_json::from_value::<RequestCatalog>(serde_json::json!({"nope": 1})).is_err());
    }
}
