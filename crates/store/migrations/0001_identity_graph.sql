-- Portable subset of SQL (runs unchanged on SQLite and PostgreSQL): text ids, BIGINT for
-- integers, booleans and timestamps (microseconds since the epoch), TEXT for JSON documents.
-- Each domain table keeps the full C1 object in `doc` and copies the fields it is queried by
-- into indexed columns; the store writes both from the same value, so they cannot drift.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email_lc TEXT NOT NULL,
    display_name_lc TEXT NOT NULL,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    user_type TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX users_email ON users (email_lc);

CREATE TABLE api_clients (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    personal BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX api_clients_user ON api_clients (user_id, id);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    display_name_lc TEXT NOT NULL,
    is_directory BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);

CREATE TABLE app_resource_types (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    manual BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX app_resource_types_app ON app_resource_types (app_id, id);

CREATE TABLE app_resources (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    resource_type_id TEXT NOT NULL,
    manual BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX app_resources_type ON app_resources (app_id, resource_type_id, id);

CREATE TABLE app_entitlements (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    resource_type_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    display_name_lc TEXT NOT NULL,
    slug TEXT NOT NULL,
    alias TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX app_entitlements_app ON app_entitlements (app_id, id);
CREATE INDEX app_entitlements_resource ON app_entitlements (resource_id, id);

CREATE TABLE app_users (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    identity_user_id TEXT NOT NULL,
    email_lc TEXT NOT NULL,
    display_name_lc TEXT NOT NULL,
    status TEXT NOT NULL,
    user_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX app_users_app ON app_users (app_id, id);
CREATE INDEX app_users_identity ON app_users (identity_user_id, id);

-- A grant exists while it is direct (added by hand or by a connector) or implied by at least one
-- source grant through an entitlement proxy binding (`sources`, a JSON list of entitlement refs).
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    app_user_id TEXT NOT NULL,
    direct BIGINT NOT NULL,
    sources TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deprovision_at BIGINT,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX grants_live ON grants (entitlement_id, app_user_id) WHERE deleted_at IS NULL;
CREATE INDEX grants_entitlement ON grants (entitlement_id, id);
CREATE INDEX grants_app_user ON grants (app_user_id, id);

CREATE TABLE owners (
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (object_kind, object_id, user_id)
);
CREATE INDEX owners_user ON owners (user_id);

CREATE TABLE entitlement_proxies (
    id TEXT PRIMARY KEY,
    src_app_id TEXT NOT NULL,
    src_entitlement_id TEXT NOT NULL,
    dst_app_id TEXT NOT NULL,
    dst_entitlement_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX entitlement_proxies_live ON entitlement_proxies (src_entitlement_id, dst_entitlement_id) WHERE deleted_at IS NULL;
CREATE INDEX entitlement_proxies_dst ON entitlement_proxies (dst_entitlement_id);

CREATE TABLE app_settings (
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, kind)
);

-- Append-only: rows are inserted in the same transaction as the change they describe and never
-- updated or deleted by the application.
CREATE TABLE system_log (
    id TEXT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor_user_id TEXT NOT NULL,
    actor_client_id TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX system_log_object ON system_log (object_id, id);
CREATE INDEX system_log_actor ON system_log (actor_user_id, id);

-- Server secrets (token signing keys), encrypted with the configured encryption key.
CREATE TABLE server_keys (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    public_key TEXT NOT NULL,
    secret TEXT NOT NULL
);
