//! Update masks (protobuf `FieldMask` in its protojson form: comma-separated paths).
//!
//! C1 updates are `POST` with the object and an `updateMask`. Chamberlain applies the mask to the
//! stored object's JSON form, refusing paths that are unknown or not writable, then reads the
//! result back into the typed object so every invariant of the type still holds.

use serde_json::{Map, Value};

/// Why a mask could not be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MaskError {
    /// The path names no writable field of the object.
    #[error("updateMask path `{path}` is not a field that can be updated; writable fields are: {allowed}")]
    NotWritable {
        /// The offending path as the client sent it.
        path: String,
        /// The writable fields, comma-separated.
        allowed: String,
    },
}

/// snake_case → camelCase, since protojson accepts both spellings in masks.
pub fn to_camel(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Applies `patch` onto `current` for the fields named by `mask`.
///
/// With no mask (absent or empty), every writable field present in `patch` is taken, which is
/// the AIP-134 reading of a missing mask. Read-only fields present in `patch` without a mask are
/// ignored (clients often send back the whole object they read); naming one in a mask is an error.
pub fn apply(
    current: &mut Value,
    patch: &Value,
    mask: Option<&str>,
    writable: &[&str],
) -> Result<Vec<String>, MaskError> {
    let empty = Map::new();
    let patch_obj = patch.as_object().unwrap_or(&empty);
    let paths: Vec<String> = match mask.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m
            .split(',')
            .map(|p| to_camel(p.trim()))
            .filter(|p| !p.is_empty())
            .collect(),
        None => patch_obj
            .keys()
            .filter(|k| writable.contains(&k.as_str()))
            .cloned()
            .collect(),
    };
    for path in &paths {
        let top = path.split('.').next().unwrap_or(path);
        if !writable.contains(&top) && !writable.contains(&path.as_str()) {
            return Err(MaskError::NotWritable {
                path: path.clone(),
                allowed: writable.join(", "),
            });
        }
    }
    if let Some(obj) = current.as_object_mut() {
        for path in &paths {
            set_path(obj, patch_obj, path);
        }
    }
    Ok(paths)
}

fn set_path(target: &mut Map<String, Value>, source: &Map<String, Value>, path: &str) {
    match path.split_once('.') {
        None => {
            let v = source.get(path).cloned().unwrap_or(Value::Null);
            target.insert(path.to_string(), v);
        }
        Some((head, rest)) => {
            let src = source
                .get(head)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let entry = target
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Some(obj) = entry.as_object_mut() {
                set_path(obj, &src, rest);
            }
        }
    }
}

/// Applies a mask to a typed object: `current` → JSON → [`apply`] → back to `T`, so the result
/// passes the type's own checks. Returns the new object and the paths that were set.
pub fn apply_typed<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: &Value,
    mask: Option<&str>,
    writable: &[&str],
) -> Result<(T, Vec<String>), String> {
    let mut doc = serde_json::to_value(current).map_err(|e| e.to_string())?;
    let paths = apply(&mut doc, patch, mask, writable).map_err(|e| e.to_string())?;
    let after = serde_json::from_value(doc).map_err(|e| e.to_string())?;
    Ok((after, paths))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mask_selects_fields_and_refuses_read_only() {
        let mut cur = json!({"displayName": "a", "description": "d", "id": "x"});
        let patch = json!({"displayName": "b", "description": "e", "id": "y"});
        apply(
            &mut cur,
            &patch,
            Some("display_name"),
            &["displayName", "description"],
        )
        .unwrap();
        assert_eq!(
            cur,
            json!({"displayName": "b", "description": "d", "id": "x"})
        );
        let err = apply(&mut cur, &patch, Some("id"), &["displayName"]).unwrap_err();
        assert!(err.to_string().contains("`id`"));
        apply(&mut cur, &patch, None, &["displayName", "description"]).unwrap();
        assert_eq!(cur["description"], "e");
        assert_eq!(cur["id"], "x");
    }
}
