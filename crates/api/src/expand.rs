//! Building C1 list responses: `{list, nextPageToken, expanded}` with View wrappers whose
//! `*Path` fields point (JSONPath) into the `expanded` array of `google.protobuf.Any` objects.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Collects expanded objects once each and hands out their JSONPath.
#[derive(Default)]
pub struct Expander {
    items: Vec<Value>,
    index: HashMap<(String, String), usize>,
}

/// `@type` URLs of the objects Chamberlain expands.
pub mod types {
    /// `c1.api.app.v1.App`.
    pub const APP: &str = "type.googleapis.com/c1.api.app.v1.App";
    /// `c1.api.app.v1.AppResourceType`.
    pub const RESOURCE_TYPE: &str = "type.googleapis.com/c1.api.app.v1.AppResourceType";
    /// `c1.api.app.v1.AppResource`.
    pub const RESOURCE: &str = "type.googleapis.com/c1.api.app.v1.AppResource";
    /// `c1.api.app.v1.AppEntitlement`.
    pub const ENTITLEMENT: &str = "type.googleapis.com/c1.api.app.v1.AppEntitlement";
    /// `c1.api.user.v1.User`.
    pub const USER: &str = "type.googleapis.com/c1.api.user.v1.User";
    /// `c1.api.app.v1.AppUser`.
    pub const APP_USER: &str = "type.googleapis.com/c1.api.app.v1.AppUser";
}

impl Expander {
    /// Adds (once) an object of `type_url` with `id`, returning `$.expanded[i]`.
    pub fn add<T: Serialize>(&mut self, type_url: &str, id: &str, obj: &T) -> String {
        let key = (type_url.to_string(), id.to_string());
        let i = match self.index.get(&key) {
            Some(i) => *i,
            None => {
                let mut v = match serde_json::to_value(obj) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                v.insert("@type".into(), Value::String(type_url.into()));
                self.items.push(Value::Object(v));
                self.index.insert(key, self.items.len() - 1);
                self.items.len() - 1
            }
        };
        format!("$.expanded[{i}]")
    }

    /// The `expanded` array.
    pub fn finish(self) -> Vec<Value> {
        self.items
    }
}

/// Parsed `expandMask.paths`: `*` means every expandable path. Names are compared in
/// snake_case and camelCase alike.
#[derive(Clone, Debug, Default)]
pub struct ExpandMask(Vec<String>);

impl ExpandMask {
    /// From the request's paths.
    pub fn new(paths: &[String]) -> Self {
        ExpandMask(
            paths
                .iter()
                .map(|p| chamberlain_model::mask::to_camel(p.trim()))
                .collect(),
        )
    }
    /// Whether `path` (camelCase) is asked for.
    pub fn wants(&self, path: &str) -> bool {
        self.0.iter().any(|p| p == "*" || p == path)
    }
}

/// The `expandMask` object of C1 requests.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExpandMaskBody {
    /// Paths to expand.
    pub paths: Vec<String>,
}
