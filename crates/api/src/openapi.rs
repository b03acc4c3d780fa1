//! The OpenAPI 3.1 document, generated from the route table: each operation carries the
//! reference spec's path, method, operationId, tag and schema names, so C1 tooling recognises
//! it. The core objects' schemas (App, AppEntitlement, AppUser, …) are derived from the Rust
//! types themselves (property names and JSON types of their protojson form); request and
//! response wrappers are declared by name and follow C1's published definitions.

use crate::routes::table;
use serde_json::{json, Map, Value};

fn params(path: &str) -> Vec<Value> {
    path.split('{')
        .skip(1)
        .filter_map(|p| p.split('}').next())
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A JSON Schema inferred from the protojson form of a value (every field is present there).
fn infer(v: &Value) -> Value {
    match v {
        Value::Null => json!({"type": ["object", "string", "null"]}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_f64() => json!({"type": "number"}),
        Value::Number(_) => json!({"type": "integer"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(_) => json!({"type": ["array", "null"]}),
        Value::Object(m) => {
            let props: Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), infer(v))).collect();
            json!({"type": "object", "properties": props})
        }
    }
}

fn object_schema<T: serde::Serialize + Default>() -> Value {
    infer(&serde_json::to_value(T::default()).unwrap_or(Value::Null))
}

/// Schemas of the core objects, under C1's names.
fn object_schemas() -> Vec<(&'static str, Value)> {
    use chamberlain_model::app::*;
    use chamberlain_model::user::{PersonalClient, User};
    vec![
        ("c1.api.app.v1.App", object_schema::<App>()),
        (
            "c1.api.app.v1.AppResourceType",
            object_schema::<AppResourceType>(),
        ),
        ("c1.api.app.v1.AppResource", object_schema::<AppResource>()),
        (
            "c1.api.app.v1.AppEntitlement",
            object_schema::<AppEntitlement>(),
        ),
        ("c1.api.app.v1.AppUser", object_schema::<AppUser>()),
        (
            "c1.api.app.v1.AppEntitlementUserBinding",
            object_schema::<Grant>(),
        ),
        (
            "c1.api.app.v1.AppEntitlementProxy",
            object_schema::<AppEntitlementProxy>(),
        ),
        (
            "c1.api.app.v1.AppUsageControls",
            object_schema::<AppUsageControls>(),
        ),
        ("c1.api.app.v1.Connector", object_schema::<Connector>()),
        (
            "c1.api.requestcatalog.v1.RequestCatalog",
            object_schema::<chamberlain_model::catalog::RequestCatalog>(),
        ),
        (
            "c1.api.requestcatalog.v1.RequestableEntry",
            object_schema::<chamberlain_model::catalog::RequestableEntry>(),
        ),
        (
            "c1.api.requestcatalog.v1.BundleAutomation",
            object_schema::<chamberlain_model::catalog::BundleAutomation>(),
        ),
        (
            "c1.api.app.v1.AppEntitlementAutomation",
            object_schema::<chamberlain_model::catalog::AppEntitlementAutomation>(),
        ),
        ("c1.api.user.v1.User", object_schema::<User>()),
        (
            "c1.api.iam.v1.PersonalClient",
            object_schema::<PersonalClient>(),
        ),
        (
            "c1.api.webhooks.v1.Webhook",
            object_schema::<chamberlain_model::webhook::Webhook>(),
        ),
        (
            "c1.api.webhooks.v1.WebhookInstance",
            object_schema::<chamberlain_model::webhook::WebhookInstance>(),
        ),
    ]
}

/// The document, with `server_url` as its server.
pub fn document(server_url: &str) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut schemas: Map<String, Value> = Map::new();
    for r in table() {
        let mut op = json!({
            "operationId": r.operation_id,
            "tags": [r.tag],
            "parameters": params(r.path),
            "security": [{"bearerAuth": []}, {"oauth": []}],
            "responses": {
                "200": {"description": "Successful response", "content": {"application/json": {"schema": schema_ref(r.response)}}},
                "default": {"description": "Error (google.rpc.Status)", "content": {"application/json": {"schema": schema_ref("google.rpc.Status")}}},
            },
        });
        if r.method == "GET" && r.response.contains("List") || r.response.ends_with("ListResponse")
        {
            if let Some(p) = op["parameters"].as_array_mut() {
                p.push(json!({"name": "page_size", "in": "query", "schema": {"type": "integer", "format": "int32"}}));
                p.push(json!({"name": "page_token", "in": "query", "schema": {"type": "string"}}));
            }
        }
        if r.extension {
            op["x-chamberlain-extension"] = json!(true);
        }
        if let Some(req) = r.request {
            op["requestBody"] =
                json!({"content": {"application/json": {"schema": schema_ref(req)}}});
            schemas.insert(req.to_string(), json!({"type": "object", "description": format!("See {req} in the C1 API reference.")}));
        }
        schemas.insert(r.response.to_string(), json!({"type": "object", "description": format!("See {} in the C1 API reference.", r.response)}));
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_ascii_lowercase()] = op;
    }
    for (name, schema) in object_schemas() {
        schemas.insert(name.to_string(), schema);
    }
    schemas.insert(
        "google.rpc.Status".into(),
        json!({"type": "object", "properties": {"code": {"type": "integer", "format": "int32"}, "message": {"type": "string"}, "details": {"type": "array", "items": {"type": "object"}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Chamberlain API (C1-compatible)", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "oauth": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "/auth/v1/token", "scopes": {}}}},
            },
        },
    })
}
