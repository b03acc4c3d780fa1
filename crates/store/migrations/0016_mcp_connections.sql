-- Downstream OAuth identities of MCP servers: one row per (server, user) for users' own
-- connections (per-user mode), and user_id '' for a server's service identity (service mode).
-- `sealed_tokens` holds the access and refresh tokens sealed (AES-256-GCM, bound to server and
-- user) and is never served; `doc` is the served view.
CREATE TABLE mcp_connections (
    server_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sealed_tokens TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (server_id, user_id)
);
CREATE INDEX mcp_connections_user ON mcp_connections (user_id, server_id);
