//! The identity graph: apps, resource types, resources, entitlements, app users (accounts),
//! grants, entitlement proxy bindings and per-app settings (`c1.api.app.v1`).

use crate::protojson::{int64_string, Duration, Timestamp};
use crate::wire_enum;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

wire_enum!(
    /// How accounts of an app are matched to users.
    IdentityMatching {
        Unspecified = "APP_USER_IDENTITY_MATCHING_UNSPECIFIED",
        Strict = "APP_USER_IDENTITY_MATCHING_STRICT",
        DisplayName = "APP_USER_IDENTITY_MATCHING_DISPLAY_NAME",
        Custom = "APP_USER_IDENTITY_MATCHING_CUSTOM",
    }
);

wire_enum!(
    /// How an app models access.
    AccessModel {
        Unspecified = "APP_ACCESS_MODEL_UNSPECIFIED",
        Classic = "APP_ACCESS_MODEL_CLASSIC",
        Hybrid = "APP_ACCESS_MODEL_HYBRID",
        Sparse = "APP_ACCESS_MODEL_SPARSE",
    }
);

wire_enum!(
    /// What an entitlement is for.
    EntitlementPurpose {
        Unspecified = "APP_ENTITLEMENT_PURPOSE_VALUE_UNSPECIFIED",
        Assignment = "APP_ENTITLEMENT_PURPOSE_VALUE_ASSIGNMENT",
        Permission = "APP_ENTITLEMENT_PURPOSE_VALUE_PERMISSION",
        Ownership = "APP_ENTITLEMENT_PURPOSE_VALUE_OWNERSHIP",
    }
);

wire_enum!(
    /// Kind of account.
    AppUserType {
        Unspecified = "APP_USER_TYPE_UNSPECIFIED",
        User = "APP_USER_TYPE_USER",
        ServiceAccount = "APP_USER_TYPE_SERVICE_ACCOUNT",
        SystemAccount = "APP_USER_TYPE_SYSTEM_ACCOUNT",
    }
);

wire_enum!(
    /// Account status.
    AppUserStatusValue {
        Unspecified = "STATUS_UNSPECIFIED",
        Enabled = "STATUS_ENABLED",
        Disabled = "STATUS_DISABLED",
        Deleted = "STATUS_DELETED",
    }
);

wire_enum!(
    /// The built-in resource type kinds a manually managed resource type can be created as.
    ManualResourceTypeKind {
        Role = "ROLE",
        Group = "GROUP",
        License = "LICENSE",
        Project = "PROJECT",
        Catalog = "CATALOG",
        Custom = "CUSTOM",
        Vault = "VAULT",
        ProfileType = "PROFILE_TYPE",
        SessionPolicy = "SESSION_POLICY",
        ClawAgent = "CLAW_AGENT",
    }
);

wire_enum!(
    /// State of the last application of an app's access request defaults.
    AccessRequestDefaultsState {
        Unspecified = "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_UNSPECIFIED",
        Running = "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_RUNNING",
        Success = "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_SUCCESS",
        Failed = "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_FAILED",
        Canceling = "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_CANCELING",
        CancelSuccess = "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_CANCEL_SUCCESS",
        CancelError = "APP_ACCESS_REQUEST_DEFAULTS_LAST_APPLY_STATE_CANCEL_ERROR",
    }
);

/// `c1.api.app.v1.App`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct App {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub access_model: AccessModel,
    pub annotations: BTreeMap<String, String>,
    pub app_account_id: String,
    pub app_account_name: String,
    pub app_owners: Vec<Value>,
    pub app_user_mapper: Option<Value>,
    pub certify_policy_id: String,
    pub connector_version: u32,
    pub default_request_catalog_id: String,
    pub enable_connector_sourced_ownership: bool,
    pub field_mask: Option<String>,
    pub grant_policy_id: String,
    pub icon_url: String,
    pub identity_matching: IdentityMatching,
    pub instructions: String,
    pub is_directory: bool,
    pub is_manually_managed: bool,
    pub logo_uri: String,
    pub match_baton_ref: Option<Value>,
    pub monthly_cost_usd: i32,
    pub parent_app_id: String,
    pub revoke_grant_sources: bool,
    pub revoke_policy_id: String,
    pub strict_access_entitlement_provisioning: bool,
    #[serde(with = "int64_string")]
    pub user_count: i64,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl App {
    /// Fields a client may change with `POST /api/v1/apps/{id}`.
    pub const WRITABLE: &'static [&'static str] = &[
        "displayName",
        "description",
        "accessModel",
        "annotations",
        "appUserMapper",
        "certifyPolicyId",
        "connectorVersion",
        "defaultRequestCatalogId",
        "enableConnectorSourcedOwnership",
        "grantPolicyId",
        "iconUrl",
        "identityMatching",
        "instructions",
        "isManuallyManaged",
        "matchBatonRef",
        "monthlyCostUsd",
        "revokeGrantSources",
        "revokePolicyId",
        "strictAccessEntitlementProvisioning",
    ];
}

/// `c1.api.app.v1.AppResourceType`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppResourceType {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    pub trait_ids: Vec<String>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl AppResourceType {
    /// Fields a client may change on a manually managed resource type.
    pub const WRITABLE: &'static [&'static str] = &["displayName"];
}

/// `c1.api.app.v1.AppResource`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppResource {
    pub id: String,
    pub app_id: String,
    pub app_resource_type_id: String,
    pub access_config_id: String,
    pub agent_trait: Option<Value>,
    pub annotations: BTreeMap<String, String>,
    pub custom_description: String,
    pub description: String,
    pub display_name: String,
    pub external_id: String,
    #[serde(with = "int64_string")]
    pub grant_count: i64,
    pub match_baton_id: String,
    pub nhi_detail: String,
    pub nhi_type: NhiType,
    pub parent_app_resource_id: String,
    pub parent_app_resource_type_id: String,
    pub profile: Option<Map<String, Value>>,
    pub secret_trait: Option<Value>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

wire_enum!(
    /// Non-human identity classification of a resource.
    NhiType {
        Unspecified = "NHI_TYPE_UNSPECIFIED",
        AppRegistration = "NHI_TYPE_APP_REGISTRATION",
        AssumableRole = "NHI_TYPE_ASSUMABLE_ROLE",
        ManagedIdentity = "NHI_TYPE_MANAGED_IDENTITY",
    }
);

impl AppResource {
    /// Fields a client may change with `POST …/resources/{id}`.
    pub const WRITABLE: &'static [&'static str] = &[
        "displayName",
        "description",
        "customDescription",
        "annotations",
        "accessConfigId",
        "matchBatonId",
    ];
}

/// `c1.api.app.v1.AppEntitlement`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppEntitlement {
    pub id: String,
    pub app_id: String,
    pub app_resource_id: String,
    pub app_resource_type_id: String,
    pub alias: String,
    pub annotations: BTreeMap<String, String>,
    pub certify_policy_id: String,
    pub compliance_framework_value_ids: Vec<String>,
    pub default_values_applied: bool,
    pub deprovisioner_policy: Option<Value>,
    pub description: String,
    pub display_name: String,
    pub duration_grant: Option<Duration>,
    pub duration_unset: Option<Map<String, Value>>,
    pub emergency_grant_enabled: bool,
    pub emergency_grant_policy_id: String,
    pub external_id: String,
    #[serde(with = "int64_string")]
    pub grant_count: i64,
    pub grant_policy_id: String,
    pub is_automation_enabled: bool,
    pub is_manually_managed: bool,
    pub match_baton_id: String,
    pub override_access_requests_defaults: bool,
    pub provisioner_policy: Option<Value>,
    pub purpose: EntitlementPurpose,
    pub request_schema_id: String,
    pub revoke_policy_id: String,
    pub risk_level_value_id: String,
    pub slug: String,
    pub source_connector_ids: BTreeMap<String, String>,
    pub system_builtin: bool,
    pub user_edited_mask: Option<String>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl AppEntitlement {
    /// Fields a client may change with `POST /api/v1/apps/{app_id}/entitlements/{id}`.
    pub const WRITABLE: &'static [&'static str] = &[
        "alias",
        "annotations",
        "certifyPolicyId",
        "complianceFrameworkValueIds",
        "deprovisionerPolicy",
        "description",
        "displayName",
        "durationGrant",
        "durationUnset",
        "emergencyGrantEnabled",
        "emergencyGrantPolicyId",
        "grantPolicyId",
        "isManuallyManaged",
        "matchBatonId",
        "overrideAccessRequestsDefaults",
        "provisionerPolicy",
        "purpose",
        "requestSchemaId",
        "revokePolicyId",
        "riskLevelValueId",
        "slug",
    ];
}

/// `c1.api.app.v1.AppUserStatus`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppUserStatus {
    pub status: AppUserStatusValue,
    pub details: String,
}

wire_enum!(
    /// Agent status of an account that is an AI agent.
    AgentStatus {
        Unspecified = "APP_USER_AGENT_STATUS_UNSPECIFIED",
        Ready = "APP_USER_AGENT_STATUS_READY",
        Disabled = "APP_USER_AGENT_STATUS_DISABLED",
        Deleted = "APP_USER_AGENT_STATUS_DELETED",
    }
);

wire_enum!(
    /// Non-human identity classification of an account.
    AppUserNhiType {
        Unspecified = "APP_USER_NHI_TYPE_UNSPECIFIED",
        AppRegistration = "APP_USER_NHI_TYPE_APP_REGISTRATION",
        AssumableRole = "APP_USER_NHI_TYPE_ASSUMABLE_ROLE",
        ManagedIdentity = "APP_USER_NHI_TYPE_MANAGED_IDENTITY",
    }
);

/// `c1.api.app.v1.AppUser`: an account in an app.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppUser {
    pub id: String,
    pub app_id: String,
    pub agent_status: AgentStatus,
    pub app_user_type: AppUserType,
    pub display_name: String,
    pub email: String,
    pub emails: Vec<String>,
    pub employee_ids: Vec<String>,
    pub identity_user_id: String,
    pub is_external: bool,
    pub nhi_detail: String,
    pub nhi_type: AppUserNhiType,
    pub profile: Option<Map<String, Value>>,
    pub status: Option<AppUserStatus>,
    pub username: String,
    pub usernames: Vec<String>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl AppUser {
    /// Fields a client may change with `POST /api/v1/apps/{app_id}/app_users/{id}`. C1 lets
    /// admins change the account type and, here, the owning user (`identityUserId`).
    pub const WRITABLE: &'static [&'static str] = &["appUserType", "identityUserId"];
}

/// `c1.api.app.v1.AppEntitlementRef`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppEntitlementRef {
    pub app_id: String,
    pub id: String,
}

/// `c1.api.app.v1.AppEntitlementUserBinding`: a grant of an entitlement to an account.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Grant {
    pub app_entitlement_id: String,
    pub app_id: String,
    pub app_user_id: String,
    pub grant_sources: Vec<AppEntitlementRef>,
    pub created_at: Option<Timestamp>,
    pub deprovision_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.app.v1.AppEntitlementProxy`: a grant of the source entitlement implies the destination.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppEntitlementProxy {
    pub src_app_id: String,
    pub src_app_entitlement_id: String,
    pub dst_app_id: String,
    pub dst_app_entitlement_id: String,
    pub implicit: Option<bool>,
    pub system_builtin: bool,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.app.v1.AppUsageControls`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppUsageControls {
    pub app_id: String,
    pub notify: bool,
    pub notify_after_days: u32,
    pub revoke: bool,
    pub revoke_after_days: u32,
}

impl AppUsageControls {
    /// Fields a client may change.
    pub const WRITABLE: &'static [&'static str] =
        &["notify", "notifyAfterDays", "revoke", "revokeAfterDays"];
}

/// `c1.api.app.v1.AppAccessRequestDefaults`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppAccessRequestDefaults {
    pub app_id: String,
    pub catalog_ids: Vec<String>,
    pub defaults_enabled: bool,
    pub duration_grant: Option<Duration>,
    pub duration_unset: Option<Map<String, Value>>,
    pub emergency_grant_enabled: bool,
    pub emergency_grant_policy_id: String,
    pub request_policy_id: String,
    pub request_schema_id: String,
    pub resource_type_ids: Vec<String>,
    pub state: AccessRequestDefaultsState,
}

/// Checks annotations against C1's rules: at most 16 entries, keys 1–128 and values 0–256
/// URL-safe ASCII characters, and no keys in the reserved `c1/` namespace.
pub fn validate_annotations(a: &BTreeMap<String, String>) -> Result<(), String> {
    if a.len() > 16 {
        return Err(format!(
            "annotations has {} entries; at most 16 are allowed",
            a.len()
        ));
    }
    let url_safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/:".contains(&b))
    };
    for (k, v) in a {
        if k.is_empty() || k.len() > 128 || !url_safe(k) {
            return Err(format!(
                "annotation key `{k}` must be 1-128 URL-safe ASCII characters"
            ));
        }
        if k.starts_with("c1/") {
            return Err(format!(
                "annotation key `{k}` uses the reserved `c1/` prefix"
            ));
        }
        if v.len() > 256 || !url_safe(v) {
            return Err(format!(
                "annotation `{k}` has a value that is not 0-256 URL-safe ASCII characters"
            ));
        }
    }
    Ok(())
}

/// Merges annotation updates with C1's PATCH semantics: keys absent from `update` are kept and an
/// empty value deletes the key.
pub fn merge_annotations(
    current: &mut BTreeMap<String, String>,
    update: &BTreeMap<String, String>,
) {
    for (k, v) in update {
        if v.is_empty() {
            current.remove(k);
        } else {
            current.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_serializes_every_field_in_protojson_form() {
        let v = serde_json::to_value(App::default()).unwrap();
        assert_eq!(v["userCount"], "0");
        assert_eq!(
            v["identityMatching"],
            "APP_USER_IDENTITY_MATCHING_UNSPECIFIED"
        );
        assert_eq!(v["createdAt"], Value::Null);
        assert_eq!(v["annotations"], serde_json::json!({}));
        assert_eq!(v.as_object().unwrap().len(), 31);
    }

    #[test]
    fn unknown_enum_names_and_fields_are_refused() {
        let e = serde_json::from_str::<App>(r#"{"identityMatching":"NOPE"}"#).unwrap_err();
        assert!(
            e.to_string().contains("APP_USER_IDENTITY_MATCHING_STRICT"),
            "{e}"
        );
        assert!(serde_json::from_str::<App>(r#"{"bogus":1}"#).is_err());
    }

    #[test]
    fn annotations_follow_c1_rules() {
        let mut a = BTreeMap::from([("managed_by".to_string(), "terraform".to_string())]);
        assert!(validate_annotations(&a).is_ok());
        merge_annotations(
            &mut a,
            &BTreeMap::from([("managed_by".to_string(), String::new())]),
        );
        assert!(a.is_empty());
        assert!(
            validate_annotations(&BTreeMap::from([("c1/x".to_string(), "y".to_string())])).is_err()
        );
    }
}

wire_enum!(
    /// State of a connector's sync.
    SyncStatus {
        Unspecified = "SYNC_STATUS_UNSPECIFIED",
        Running = "SYNC_STATUS_RUNNING",
        Done = "SYNC_STATUS_DONE",
        Error = "SYNC_STATUS_ERROR",
        Disabled = "SYNC_STATUS_DISABLED",
    }
);

/// `c1.api.app.v1.ConnectorStatus`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ConnectorStatus {
    pub status: SyncStatus,
    pub last_error: String,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

/// `c1.api.app.v1.ConnectorCredential`: a client credential a connector running elsewhere
/// uses to send its syncs. `clientSecret` is only ever filled in the rotate response.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectorCredential {
    pub id: String,
    pub app_id: String,
    pub connector_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub display_name: String,
    pub expires_time: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.app.v1.Connector`. `config` is never returned (it may hold secrets); it is stored
/// encrypted and `configUpdatedAt` says when it last changed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Connector {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    pub description: String,
    pub catalog_id: String,
    pub can_resume_sync: bool,
    pub config: Option<Value>,
    pub config_updated_at: Option<Timestamp>,
    pub connector_api_version: u32,
    pub connector_sync_cron_schedule: Option<Value>,
    pub disable_check_bad_sync: bool,
    pub download_url: String,
    pub oauth_authorized_as: Option<Value>,
    pub parallel_sync_worker_count: Option<i32>,
    pub profile_allow_list: Vec<String>,
    pub profile_ignore_list: Vec<String>,
    pub status: Option<ConnectorStatus>,
    pub sync_config: Option<Value>,
    pub sync_disabled_at: Option<Timestamp>,
    pub sync_disabled_category: String,
    pub sync_disabled_reason: String,
    pub user_ids: Vec<String>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl Connector {
    /// Fields a client may change with `POST …/connectors/{id}`.
    pub const WRITABLE: &'static [&'static str] = &[
        "displayName",
        "description",
        "catalogId",
        "userIds",
        "disableCheckBadSync",
        "profileAllowList",
        "profileIgnoreList",
    ];
}

/// `c1.api.app.v1.AppEntitlementRoutingRule` ("entitlement configuration rule"): request
/// settings for the app's entitlements that match `condition` (CEL over `entitlement`; empty
/// matches all), applied where an entitlement sets nothing itself. Rules are tried in
/// `priority` order; the first enabled match wins.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppEntitlementRoutingRule {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    pub description: String,
    pub condition: String,
    pub enabled: bool,
    pub priority: i32,
    pub settings: Option<RoutingRuleSettings>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.app.v1.AppEntitlementRoutingRuleSettings`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RoutingRuleSettings {
    pub emergency_grant_enabled: bool,
    pub emergency_grant_policy_id: String,
    pub max_grant_duration: Option<Duration>,
    pub request_policy_id: String,
    pub request_schema_id: String,
}
