//! What the fixture exposes: tool, resource and prompt definitions, kept as wire JSON so they
//! read like the MCP messages the conformance suite and the gateway tests look at.

use std::path::Path;

use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// A 1×1 PNG, the image every image-returning fixture uses.
pub const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV header with two bytes of samples.
pub const WAV_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// Conformance fixture tools that take no arguments: (name, description).
const NO_ARG_TOOLS: &[(&str, &str)] = &[
    ("test_simple_text", "Returns one text block"),
    ("test_image_content", "Returns one PNG image block"),
    ("test_audio_content", "Returns one WAV audio block"),
    (
        "test_embedded_resource",
        "Returns an embedded text resource",
    ),
    (
        "test_multiple_content_types",
        "Returns text, an image and an embedded JSON resource",
    ),
    (
        "test_tool_with_logging",
        "Sends three log notifications while it runs",
    ),
    (
        "test_tool_with_progress",
        "Sends progress 0, 50 and 100 for the request's progress token",
    ),
    (
        "test_error_handling",
        "Always fails with a tool error (isError)",
    ),
    (
        "test_reconnection",
        "Answers after a short pause (SSE reconnection probe)",
    ),
    (
        "test_elicitation_sep1034_defaults",
        "Elicits a form whose fields all have defaults (SEP-1034)",
    ),
    (
        "test_elicitation_sep1330_enums",
        "Elicits a form with every enum variant (SEP-1330)",
    ),
    // Stateless-era (2026-07-28) diagnostics.
    (
        "test_missing_capability",
        "Needs the client's sampling capability; refuses with -32021 without it",
    ),
    (
        "test_streaming_elicitation",
        "Answers with an input_required elicitation request",
    ),
    (
        "test_logging_tool",
        "Logs only when the request's _meta asks for a log level",
    ),
    (
        "test_trigger_tool_change",
        "Sends tools/list_changed to open subscriptions",
    ),
    (
        "test_trigger_prompt_change",
        "Sends prompts/list_changed to open subscriptions",
    ),
    // Multi-round-trip requests (SEP-2322, 2026-07-28).
    (
        "test_input_required_result_elicitation",
        "MRTR: needs one elicitation answer",
    ),
    (
        "test_input_required_result_sampling",
        "MRTR: needs one sampling answer",
    ),
    (
        "test_input_required_result_list_roots",
        "MRTR: needs the client's roots",
    ),
    (
        "test_input_required_result_request_state",
        "MRTR: round-trips a sealed requestState",
    ),
    (
        "test_input_required_result_multiple_inputs",
        "MRTR: needs elicitation, sampling and roots in one round",
    ),
    (
        "test_input_required_result_multi_round",
        "MRTR: two rounds of elicitation",
    ),
    (
        "test_input_required_result_tampered_state",
        "MRTR: refuses a requestState that fails its integrity check",
    ),
    (
        "test_input_required_result_capabilities",
        "MRTR: asks only for what the client declared it can do",
    ),
];

/// Turns fixture JSON into an rmcp model value; the JSON is static, so failure is a bug.
pub fn wire<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("fixture JSON matches the MCP schema")
}

/// Like [`wire`] for a result: marks it `resultType: "complete"`, which 2026-07-28 requires on
/// every result (rmcp's constructors do the same).
pub fn complete<T: DeserializeOwned>(mut value: Value) -> T {
    if let Some(obj) = value.as_object_mut() {
        obj.insert("resultType".into(), json!("complete"));
    }
    wire(value)
}

fn empty_schema() -> Value {
    json!({ "type": "object", "properties": {} })
}

fn string_arg_schema(name: &str, description: &str) -> Value {
    json!({
        "type": "object",
        "properties": { name: { "type": "string", "description": description } },
        "required": [name]
    })
}

/// The tool carrying an `x-mcp-header` parameter, so header mirroring (SEP-2243) can be checked.
pub fn custom_header_tool() -> Tool {
    wire(json!({
        "name": "test_custom_header",
        "description": "Echoes `value`, which clients also send as the Mcp-Param-Value header",
        "inputSchema": {
            "type": "object",
            "properties": { "value": { "type": "string", "x-mcp-header": "Value" } },
            "required": ["value"]
        }
    }))
}

/// The conformance fixture tools (names the suite calls).
pub fn conformance_tools() -> Vec<Tool> {
    let mut tools: Vec<Tool> = NO_ARG_TOOLS
        .iter()
        .map(|(name, description)| {
            wire(json!({ "name": name, "description": description, "inputSchema": empty_schema() }))
        })
        .collect();
    tools.push(wire(json!({
        "name": "test_sampling",
        "description": "Asks the client's LLM to complete `prompt` (sampling/createMessage)",
        "inputSchema": string_arg_schema("prompt", "The prompt to send to the LLM"),
    })));
    tools.push(wire(json!({
        "name": "test_elicitation",
        "description": "Asks the user for input (elicitation/create)",
        "inputSchema": string_arg_schema("message", "The message to show the user"),
    })));
    tools.push(wire(json!({
        "name": "json_schema_2020_12_tool",
        "description": "Input schema uses JSON Schema 2020-12 keywords that must survive tools/list",
        "inputSchema": json_schema_2020_12(),
    })));
    tools.push(custom_header_tool());
    tools.extend(task_tools());
    tools
}

/// How a tool relates to the Tasks extension (SEP-2663). The wire carries no such field: the
/// server alone decides whether a call becomes a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskSupport {
    /// Never a task.
    Forbidden,
    /// A task when the request declared the extension, else run synchronously.
    Optional,
    /// Only as a task: refused with -32021 when the request did not declare the extension.
    Required,
}

/// The task fixtures the conformance suite's tasks scenarios call: (name, support, description,
/// input schema).
const TASK_TOOLS: &[(&str, TaskSupport, &str)] = &[
    ("greet", TaskSupport::Forbidden, "Returns `Hello, {name}!` (never a task)"),
    (
        "slow_compute",
        TaskSupport::Optional,
        "Sleeps `seconds` then reports `label`; a task when the client declared the tasks extension, cancellable",
    ),
    (
        "failing_job",
        TaskSupport::Required,
        "Task only: fails with a tool error (isError) after about a second",
    ),
    (
        "protocol_error_job",
        TaskSupport::Optional,
        "Fails with a JSON-RPC internal error (as a task: status failed with the error inlined)",
    ),
    (
        "confirm_delete",
        TaskSupport::Optional,
        "Asks the user to confirm deleting `filename` (elicitation), then reports what it did",
    ),
    (
        "multi_input",
        TaskSupport::Optional,
        "Asks two questions at once (two elicitations pending together), then reports both answers",
    ),
    (
        "test_tool_with_task",
        TaskSupport::Required,
        "Asks for the user's name (input_required), then becomes a task that greets them",
    ),
];

/// The task support of a task fixture tool (None for every other tool).
pub fn task_support(name: &str) -> Option<TaskSupport> {
    TASK_TOOLS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, s, _)| *s)
}

fn task_tools() -> Vec<Tool> {
    TASK_TOOLS
        .iter()
        .map(|(name, _, description)| {
            let schema = match *name {
                "greet" => string_arg_schema("name", "Who to greet"),
                "slow_compute" => json!({
                    "type": "object",
                    "properties": {
                        "seconds": { "type": "number", "description": "How long to work" },
                        "label": { "type": "string", "description": "Echoed in the result" }
                    }
                }),
                "confirm_delete" => string_arg_schema("filename", "The file to delete"),
                _ => empty_schema(),
            };
            wire(json!({ "name": name, "description": description, "inputSchema": schema }))
        })
        .collect()
}

/// An input schema with `$schema`, `$defs`, `$anchor`, `$ref`, composition and conditionals.
fn json_schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    })
}

/// `echo`: the cheapest possible tool, used to measure gateway overhead.
pub fn echo_tool() -> Tool {
    wire(json!({
        "name": "echo",
        "description": "Returns `message` as text",
        "inputSchema": string_arg_schema("message", "Text to return"),
        "annotations": { "readOnlyHint": true, "destructiveHint": false, "openWorldHint": false }
    }))
}

/// Tools for gateway tests: one destructive (classification defaults), one that reports the
/// inbound headers (to prove the AI client's token is not forwarded).
pub fn gateway_test_tools() -> Vec<Tool> {
    vec![
        wire(json!({
            "name": "touch_resource",
            "description": "Announces that resource `uri` changed: notifications/resources/updated to every session that subscribed to any resource (gateways must filter by URI)",
            "inputSchema": string_arg_schema("uri", "Resource URI"),
            "annotations": { "readOnlyHint": true }
        })),
        wire(json!({
            "name": "delete_item",
            "description": "Pretends to delete the item `id` (nothing is stored)",
            "inputSchema": string_arg_schema("id", "Item to delete"),
            "annotations": { "readOnlyHint": false, "destructiveHint": true, "idempotentHint": true }
        })),
        wire(json!({
            "name": "whoami",
            "description": "Returns the inbound Authorization header and all header names as JSON",
            "inputSchema": empty_schema(),
            "annotations": { "readOnlyHint": true }
        })),
    ]
}

/// Name of generated tool `i` (`gen_0000`, …).
pub fn generated_name(i: usize) -> String {
    format!("gen_{i:04}")
}

/// Index of a generated tool name, if it is one of the first `count`.
pub fn generated_index(name: &str, count: usize) -> Option<usize> {
    let digits = name.strip_prefix("gen_")?;
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: usize = digits.parse().ok()?;
    (i < count && generated_name(i) == name).then_some(i)
}

pub fn generated_tool(i: usize) -> Tool {
    wire(json!({
        "name": generated_name(i),
        "description": format!("Generated tool {i}: returns `text`"),
        "inputSchema": string_arg_schema("text", "Text to return"),
        "annotations": { "readOnlyHint": true }
    }))
}

/// Tools defined in a `--tools-file`: a JSON array of `{name, description?, annotations?,
/// inputSchema?}`. Read on every `tools/list`, so tests can change it between discoveries.
pub fn file_tools(path: &Path) -> Result<Vec<Tool>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries: Vec<Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    entries
        .into_iter()
        .map(|mut entry| {
            if let Some(obj) = entry.as_object_mut() {
                obj.entry("inputSchema").or_insert_with(empty_schema);
            }
            serde_json::from_value::<Tool>(entry).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

pub fn resources() -> Vec<Resource> {
    wire(json!([
        {
            "uri": "test://static-text",
            "name": "static-text",
            "title": "Static Text Resource",
            "description": "A static text resource",
            "mimeType": "text/plain"
        },
        {
            "uri": "test://static-binary",
            "name": "static-binary",
            "title": "Static Binary Resource",
            "description": "A static PNG resource",
            "mimeType": "image/png"
        },
        {
            "uri": "test://watched-resource",
            "name": "watched-resource",
            "title": "Watched Resource",
            "description": "A resource clients may subscribe to",
            "mimeType": "text/plain"
        }
    ]))
}

pub fn resource_templates() -> Vec<ResourceTemplate> {
    wire(json!([{
        "uriTemplate": "test://template/{id}/data",
        "name": "template",
        "title": "Resource Template",
        "description": "JSON data for the id in the URI",
        "mimeType": "application/json"
    }]))
}

/// The contents of a readable resource as wire JSON, or `None` if there is no such resource.
pub fn read_resource(uri: &str) -> Option<Value> {
    let contents = match uri {
        "test://static-text" => json!({
            "uri": uri, "mimeType": "text/plain",
            "text": "This is the content of the static text resource."
        }),
        "test://static-binary" => {
            json!({ "uri": uri, "mimeType": "image/png", "blob": PNG_BASE64 })
        }
        "test://watched-resource" => {
            json!({ "uri": uri, "mimeType": "text/plain", "text": "Watched resource content" })
        }
        _ => {
            let id = uri
                .strip_prefix("test://template/")?
                .strip_suffix("/data")
                .filter(|id| !id.is_empty() && !id.contains('/'))?;
            let text =
                json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
            json!({ "uri": uri, "mimeType": "application/json", "text": text.to_string() })
        }
    };
    Some(json!({ "contents": [contents] }))
}

pub fn prompts() -> Vec<Prompt> {
    wire(json!([
        {
            "name": "test_simple_prompt",
            "title": "Simple Test Prompt",
            "description": "A prompt without arguments"
        },
        {
            "name": "test_prompt_with_arguments",
            "title": "Prompt With Arguments",
            "description": "A prompt with two required arguments",
            "arguments": [
                { "name": "arg1", "description": "First test argument", "required": true },
                { "name": "arg2", "description": "Second test argument", "required": true }
            ]
        },
        {
            "name": "test_prompt_with_embedded_resource",
            "title": "Prompt With Embedded Resource",
            "description": "A prompt that embeds a resource",
            "arguments": [
                { "name": "resourceUri", "description": "URI of the resource to embed", "required": true }
            ]
        },
        {
            "name": "test_prompt_with_image",
            "title": "Prompt With Image",
            "description": "A prompt that includes an image"
        },
        {
            "name": "test_input_required_result_prompt",
            "description": "MRTR: a prompt that needs an elicitation answer first"
        }
    ]))
}

/// A prompt's messages as wire JSON (`GetPromptResult`), or `None` for an unknown prompt.
pub fn get_prompt(name: &str, args: &serde_json::Map<String, Value>) -> Option<Value> {
    let arg = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or("");
    let messages = match name {
        "test_simple_prompt" => json!([
            { "role": "user", "content": { "type": "text", "text": "This is a simple prompt for testing." } }
        ]),
        "test_prompt_with_arguments" => json!([
            { "role": "user", "content": { "type": "text",
              "text": format!("Prompt with arguments: arg1='{}', arg2='{}'", arg("arg1"), arg("arg2")) } }
        ]),
        "test_prompt_with_embedded_resource" => json!([
            { "role": "user", "content": { "type": "resource", "resource": {
                "uri": arg("resourceUri"), "mimeType": "text/plain",
                "text": "Embedded resource content for testing." } } },
            { "role": "user", "content": { "type": "text", "text": "Please process the embedded resource above." } }
        ]),
        "test_prompt_with_image" => json!([
            { "role": "user", "content": { "type": "image", "data": PNG_BASE64, "mimeType": "image/png" } },
            { "role": "user", "content": { "type": "text", "text": "Please analyze the image above." } }
        ]),
        _ => return None,
    };
    Some(json!({ "messages": messages }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_json_deserializes() {
        assert!(conformance_tools().len() > 20);
        let _ = (echo_tool(), gateway_test_tools(), generated_tool(3));
        let _ = (resources(), resource_templates(), prompts());
        for name in ["test_simple_prompt", "test_prompt_with_image"] {
            let _: rmcp::model::GetPromptResult =
                wire(get_prompt(name, &Default::default()).unwrap());
        }
        for uri in [
            "test://static-text",
            "test://static-binary",
            "test://template/7/data",
        ] {
            let _: rmcp::model::ReadResourceResult = wire(read_resource(uri).unwrap());
        }
        assert!(read_resource("test://template//data").is_none());
    }

    #[test]
    fn generated_names_round_trip() {
        assert_eq!(generated_name(7), "gen_0007");
        assert_eq!(generated_index("gen_0007", 8), Some(7));
        assert_eq!(generated_index("gen_0008", 8), None);
        assert_eq!(generated_index("gen_7", 8), None);
        assert_eq!(generated_index("gen_12345", 20000), Some(12345));
    }
}
