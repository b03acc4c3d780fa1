//! The subset of Baton's `c1.connector.v2` protobuf messages that an import and the v1 writer
//! need, written by hand from the wire facts (field numbers) of the format; unknown fields are
//! skipped by prost.

use std::collections::HashMap;

/// `c1.connector.v2.ResourceType`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceType {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// `c1.connector.v2.ResourceType.Trait` values.
    #[prost(int32, repeated, tag = "3")]
    pub traits: Vec<i32>,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<prost_types::Any>,
    #[prost(string, tag = "5")]
    pub description: String,
}

/// `c1.connector.v2.ResourceId`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ResourceId {
    #[prost(string, tag = "1")]
    pub resource_type: String,
    #[prost(string, tag = "2")]
    pub resource: String,
}

/// `c1.connector.v2.Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, optional, tag = "1")]
    pub id: Option<ResourceId>,
    #[prost(message, optional, tag = "2")]
    pub parent_resource_id: Option<ResourceId>,
    #[prost(string, tag = "3")]
    pub display_name: String,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<prost_types::Any>,
    #[prost(string, tag = "5")]
    pub description: String,
    #[prost(message, optional, tag = "9")]
    pub profile: Option<prost_types::Struct>,
    #[prost(message, optional, tag = "11")]
    pub status: Option<Status>,
}

/// `c1.connector.v2.Resource.Status` / `UserTrait.Status`: 1 ENABLED, 2 DISABLED, 3 DELETED.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub details: String,
}

/// `c1.connector.v2.Entitlement`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entitlement {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(string, tag = "3")]
    pub display_name: String,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(message, repeated, tag = "5")]
    pub grantable_to: Vec<ResourceType>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<prost_types::Any>,
    /// 1 ASSIGNMENT, 2 PERMISSION, 3 OWNERSHIP.
    #[prost(int32, tag = "7")]
    pub purpose: i32,
    #[prost(string, tag = "8")]
    pub slug: String,
}

/// `c1.connector.v2.Grant`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Grant {
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<Entitlement>,
    #[prost(message, optional, tag = "2")]
    pub principal: Option<Resource>,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<prost_types::Any>,
    #[prost(message, optional, tag = "5")]
    pub sources: Option<GrantSources>,
}

/// `c1.connector.v2.Grant` as the reader decodes it: only the ids and sources the sync
/// engine uses. Connectors copy the whole entitlement and principal (resources, profiles,
/// annotations) into every grant; prost skips those bytes instead of allocating them, which
/// halves reading a million-grant file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GrantIds {
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<EntitlementId>,
    #[prost(message, optional, tag = "2")]
    pub principal: Option<ResourceRef>,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(message, optional, tag = "5")]
    pub sources: Option<GrantSources>,
}

/// The id of a `c1.connector.v2.Entitlement` (its other fields are skipped).
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntitlementId {
    #[prost(string, tag = "2")]
    pub id: String,
}

/// The id of a `c1.connector.v2.Resource` (its other fields are skipped).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceRef {
    #[prost(message, optional, tag = "1")]
    pub id: Option<ResourceId>,
}

/// `c1.connector.v2.GrantSources`: the entitlements an expanded grant derives from.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GrantSources {
    #[prost(map = "string, message", tag = "1")]
    pub sources: HashMap<String, GrantSource>,
}

/// `c1.connector.v2.GrantSources.GrantSource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GrantSource {
    #[prost(bool, tag = "1")]
    pub is_direct: bool,
}

/// `c1.connector.v2.GrantExpandable`: on a grant whose principal is itself a holder of
/// entitlements (a group), the entitlements whose holders the grant extends to. Writers since
/// Baton SDK v0.7.22 keep it out of the grant's `data` and store it in `v1_grants.expansion`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GrantExpandable {
    #[prost(string, repeated, tag = "1")]
    pub entitlement_ids: Vec<String>,
    #[prost(bool, tag = "2")]
    pub shallow: bool,
    #[prost(string, repeated, tag = "3")]
    pub resource_type_ids: Vec<String>,
}

/// `c1.connector.v2.UserTrait` (an annotation on user resources).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserTrait {
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<Email>,
    #[prost(message, optional, tag = "2")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "3")]
    pub profile: Option<prost_types::Struct>,
    /// 1 HUMAN, 2 SERVICE, 3 SYSTEM.
    #[prost(int32, tag = "5")]
    pub account_type: i32,
    #[prost(string, tag = "6")]
    pub login: String,
    #[prost(string, repeated, tag = "7")]
    pub login_aliases: Vec<String>,
    #[prost(string, repeated, tag = "13")]
    pub employee_ids: Vec<String>,
}

/// `c1.connector.v2.UserTrait.Email`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Email {
    #[prost(string, tag = "1")]
    pub address: String,
    #[prost(bool, tag = "2")]
    pub is_primary: bool,
}

/// `c1.c1z.v3.C1ZManifestV3`, only what a refusal message shows.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ManifestV3 {
    #[prost(string, tag = "1")]
    pub engine: String,
    #[prost(message, repeated, tag = "40")]
    pub sync_runs: Vec<ManifestSyncRun>,
}

/// A sync run summary in a v3 manifest.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ManifestSyncRun {
    #[prost(string, tag = "1")]
    pub sync_id: String,
    /// 1 = full.
    #[prost(int32, tag = "2")]
    pub sync_type: i32,
    #[prost(message, optional, tag = "3")]
    pub started_at: Option<prost_types::Timestamp>,
    #[prost(message, optional, tag = "4")]
    pub ended_at: Option<prost_types::Timestamp>,
    #[prost(message, optional, tag = "6")]
    pub stats: Option<ManifestSyncStats>,
}

/// Object counts of a v3 sync run.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ManifestSyncStats {
    #[prost(int64, tag = "2")]
    pub resource_types: i64,
    #[prost(int64, tag = "3")]
    pub resources: i64,
    #[prost(int64, tag = "4")]
    pub entitlements: i64,
    #[prost(int64, tag = "5")]
    pub grants: i64,
}

/// Type URL suffixes of the annotations the importer reads.
pub mod type_urls {
    /// `UserTrait`.
    pub const USER_TRAIT: &str = "c1.connector.v2.UserTrait";
    /// `GrantExpandable`.
    pub const GRANT_EXPANDABLE: &str = "c1.connector.v2.GrantExpandable";
    /// The prefix Baton's `Any` annotations carry before the message name.
    pub const PREFIX: &str = "type.googleapis.com/";
}

/// Wraps `msg` as an annotation (`google.protobuf.Any`) of message type `name`, e.g.
/// `annotation(type_urls::USER_TRAIT, &trait_)`.
pub fn annotation<M: prost::Message>(name: &str, msg: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("{}{name}", type_urls::PREFIX),
        value: msg.encode_to_vec(),
    }
}

/// Baton trait numbers → the names C1 shows in `traitIds`.
pub fn trait_name(t: i32) -> &'static str {
    match t {
        1 => "TRAIT_USER",
        2 => "TRAIT_GROUP",
        3 => "TRAIT_ROLE",
        4 => "TRAIT_APP",
        5 => "TRAIT_SECRET",
        6 => "TRAIT_SECURITY_INSIGHT",
        7 => "TRAIT_SCOPE_BINDING",
        8 => "TRAIT_VENDOR",
        9 => "TRAIT_VENDOR_AGREEMENT",
        10 => "TRAIT_LICENSE_PROFILE",
        11 => "TRAIT_AGENT",
        12 => "TRAIT_MANAGED_DEVICE",
        _ => "TRAIT_UNSPECIFIED",
    }
}

/// Converts a protobuf `Struct` to JSON.
pub fn struct_to_json(s: &prost_types::Struct) -> serde_json::Map<String, serde_json::Value> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), value_to_json(v)))
        .collect()
}

/// Converts a JSON object to a protobuf `Struct` (the inverse of [`struct_to_json`]; numbers
/// become doubles, as in protobuf's own JSON mapping).
pub fn json_to_struct(m: &serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: m
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    }
}

fn json_to_value(v: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(json_to_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn value_to_json(v: &prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::StructValue(s)) => serde_json::Value::Object(struct_to_json(s)),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(value_to_json).collect())
        }
    }
}
