//! Users (`c1.api.user.v1.User`) and personal API clients (`c1.api.iam.v1.PersonalClient`).

use crate::protojson::Timestamp;
use crate::wire_enum;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

wire_enum!(
    /// A user's status (also used for `directoryStatus`).
    UserStatus {
        Unknown = "UNKNOWN",
        Enabled = "ENABLED",
        Disabled = "DISABLED",
        Deleted = "DELETED",
    }
);

wire_enum!(
    /// What kind of identity a user is.
    UserType {
        Unspecified = "USER_TYPE_UNSPECIFIED",
        System = "USER_TYPE_SYSTEM",
        Human = "USER_TYPE_HUMAN",
        Service = "USER_TYPE_SERVICE",
        Agent = "USER_TYPE_AGENT",
    }
);

wire_enum!(
    /// Where a user came from.
    UserOrigin {
        Unspecified = "USER_ORIGIN_UNSPECIFIED",
        Directory = "USER_ORIGIN_DIRECTORY",
        Local = "USER_ORIGIN_LOCAL",
        System = "USER_ORIGIN_SYSTEM",
    }
);

/// `c1.api.user.v1.User`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub display_name: String,
    pub email: String,
    pub emails: Vec<String>,
    pub username: String,
    pub usernames: Vec<String>,
    pub delegated_user_id: String,
    pub department: String,
    pub directory_ids: Vec<String>,
    pub directory_status: UserStatus,
    pub employee_ids: Vec<String>,
    pub employment_status: String,
    pub employment_type: String,
    pub job_title: String,
    pub manager_ids: Vec<String>,
    pub origin: UserOrigin,
    pub profile: Option<Map<String, Value>>,
    pub role_ids: Vec<String>,
    pub status: UserStatus,
    #[serde(rename = "type")]
    pub user_type: UserType,
    pub department_sources: Vec<AttributeSource>,
    pub directory_status_sources: Vec<AttributeSource>,
    pub email_sources: Vec<AttributeSource>,
    pub employee_id_sources: Vec<AttributeSource>,
    pub employment_status_sources: Vec<AttributeSource>,
    pub employment_type_sources: Vec<AttributeSource>,
    pub job_title_sources: Vec<AttributeSource>,
    pub manager_sources: Vec<AttributeSource>,
    pub username_sources: Vec<AttributeSource>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.user.v1.UserAttributeMappingSource`: where one value of a user attribute came from
/// (a directory account, and the profile key read). `priority` 0 is the winning source.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AttributeSource {
    pub app_id: String,
    pub app_user_id: String,
    pub app_user_profile_attribute_key: String,
    pub priority: u32,
    pub user_attribute_mapping_id: String,
    pub value: String,
}

/// `c1.api.iam.v1.PersonalClient`: an API client credential owned by a user. The secret is
/// never part of this object; it is shown once, at creation.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PersonalClient {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub display_name: String,
    pub allow_source_cidr: Vec<String>,
    pub scoped_roles: Vec<String>,
    pub expires_time: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl PersonalClient {
    /// Fields a client may change.
    pub const WRITABLE: &'static [&'static str] = &["displayName", "allowSourceCidr"];
}
