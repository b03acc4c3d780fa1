//! The OpenAPI 3.1 document, generated from the route table: each operation carries the
//! reference spec's path, method, operationId, tag and schema names, so C1 tooling recognises
//! it. Component schemas are declared by name and point readers to C1's published definitions;
//! the request and response shapes are the ones in `c1-openapi.yaml`.

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
