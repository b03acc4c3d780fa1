-- AI access management: MCP servers registered under apps, their tools, toolsets and tool
-- bindings, the history of tools and bindings, and the per-request gateway audit.

-- One row per server (a C1 connector of kind MCP). `doc` is the served view; downstream
-- credentials are sealed (AES-256-GCM) in `sealed_auth` and never served.
CREATE TABLE mcp_servers (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    name_lc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    sealed_auth TEXT NOT NULL DEFAULT '',
    doc TEXT NOT NULL
);
CREATE INDEX mcp_servers_app ON mcp_servers (app_id, id);

CREATE TABLE mcp_tools (
    id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    name_lc TEXT NOT NULL,
    state TEXT NOT NULL,
    classification TEXT NOT NULL,
    visibility TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX mcp_tools_name ON mcp_tools (server_id, tool_name);
CREATE INDEX mcp_tools_app ON mcp_tools (app_id, id);

-- Toolsets (C1's MCPAccessProfile); `built_in` is ALL_APPROVED, READ_ONLY or '' (custom).
CREATE TABLE mcp_toolsets (
    id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    built_in TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    name_lc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX mcp_toolsets_server ON mcp_toolsets (server_id, id);
CREATE INDEX mcp_toolsets_entitlement ON mcp_toolsets (entitlement_id);

-- Tools bound to custom toolsets (built-in toolsets compute their members).
CREATE TABLE mcp_toolset_tools (
    toolset_id TEXT NOT NULL,
    tool_id TEXT NOT NULL,
    server_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (toolset_id, tool_id)
);
CREATE INDEX mcp_toolset_tools_tool ON mcp_toolset_tools (tool_id);

-- History of tools (snapshots) and bindings (added / removed): subject is a tool or toolset,
-- related the other side of a binding.
CREATE TABLE mcp_history (
    id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    related_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor_user_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX mcp_history_subject ON mcp_history (subject_id, id);
CREATE INDEX mcp_history_related ON mcp_history (related_id, id);

-- One row per MCP request through the gateway. result: SUCCESS | DENIED | ERROR.
CREATE TABLE mcp_audit (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    method TEXT NOT NULL,
    server_id TEXT NOT NULL,
    tool_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    result TEXT NOT NULL,
    reason TEXT NOT NULL,
    latency_us BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX mcp_audit_user ON mcp_audit (user_id, id);
CREATE INDEX mcp_audit_server ON mcp_audit (server_id, id);
CREATE INDEX mcp_audit_tool ON mcp_audit (tool_name, id);
