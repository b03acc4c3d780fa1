-- Access profiles (C1 request catalogs) and membership automation.

-- One row per catalog. Each catalog has a resource and an enrollment entitlement in the
-- built-in app (`enrollment_entitlement_id`); membership is a grant of that entitlement.
CREATE TABLE request_catalogs (
    id TEXT PRIMARY KEY,
    display_name_lc TEXT NOT NULL,
    published BIGINT NOT NULL,
    visible_to_everyone BIGINT NOT NULL,
    request_bundle BIGINT NOT NULL,
    enrollment_entitlement_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX request_catalogs_enrollment ON request_catalogs (enrollment_entitlement_id);

-- Entitlements requestable through a catalog. Rows are deleted when removed (the system log
-- keeps the history).
CREATE TABLE catalog_entries (
    catalog_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (catalog_id, entitlement_id)
);
CREATE INDEX catalog_entries_entitlement ON catalog_entries (entitlement_id, catalog_id);

-- Visibility ("access entitlements"): holders of any of these may see the catalog.
CREATE TABLE catalog_visibility (
    catalog_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (catalog_id, entitlement_id)
);
CREATE INDEX catalog_visibility_entitlement ON catalog_visibility (entitlement_id, catalog_id);

-- Membership automation of a catalog (at most one; the id is the catalog id).
CREATE TABLE bundle_automations (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);

-- Dynamic membership of one entitlement (the id is the entitlement id).
CREATE TABLE entitlement_automations (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);

-- Users an entitlement's automation leaves out.
CREATE TABLE automation_exclusions (
    entitlement_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (entitlement_id, user_id)
);
