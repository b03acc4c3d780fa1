-- The OAuth 2.1 authorization server for AI clients of the MCP gateway, and local sign-in.
-- Secrets (passwords, session ids, authorization codes, refresh tokens, client secrets) are
-- never stored: passwords as Argon2id PHC strings, the others as SHA-256 hex digests.

-- Local passwords (Argon2id).
CREATE TABLE user_passwords (
    user_id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Browser sessions of the sign-in and consent pages. The cookie carries a random token; the
-- row keeps its digest. A session ends after 30 min idle or 12 h in all (checked on use).
CREATE TABLE web_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX web_sessions_token ON web_sessions (token_hash);

-- AI clients: registered by DCR (client_id_type DCR) or known by their client ID metadata
-- document URL (METADATA_URL, the URL is the client_id). `doc` holds the client metadata
-- (client_name, redirect_uris, token_endpoint_auth_method, …). killed = 1: an admin switched
-- the client off for everyone.
CREATE TABLE oauth_clients (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_id_type TEXT NOT NULL,
    client_name_lc TEXT NOT NULL,
    well_known TEXT NOT NULL,
    secret_hash TEXT,
    killed BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX oauth_clients_client_id ON oauth_clients (client_id);

-- One user's authorization of one AI client (C1's ExternalClientInfo) and its lifecycle:
-- state ACTIVE | HIDDEN | CLOSED | DELETED. Access tokens issued at or before
-- `revoked_before` (Unix seconds) are refused (a reused code or refresh token revokes them).
CREATE TABLE oauth_authorizations (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    mcp_client_id TEXT NOT NULL,
    state TEXT NOT NULL,
    revoked_before BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX oauth_authorizations_user_client ON oauth_authorizations (user_id, client_id);
CREATE INDEX oauth_authorizations_client ON oauth_authorizations (mcp_client_id, id);
CREATE INDEX oauth_authorizations_state ON oauth_authorizations (state, last_used_at);

-- Authorization codes: single use, short-lived, bound to client, redirect URI, PKCE
-- challenge, resource and user. Tokens issued from a code share its `family_id`.
CREATE TABLE oauth_codes (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE UNIQUE INDEX oauth_codes_hash ON oauth_codes (code_hash);

-- Refresh tokens, rotated on every use; presenting a used one revokes its whole family.
CREATE TABLE oauth_refresh_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX oauth_refresh_tokens_hash ON oauth_refresh_tokens (token_hash);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (family_id);
CREATE INDEX oauth_refresh_tokens_user_client ON oauth_refresh_tokens (user_id, client_id);
