-- Connectors and sync (issue: connectors and sync).

-- Maps the ids a source uses (Baton ids such as `user:u-1` or `group:g-1:member`) to the ids of
-- the objects they became, per app and object kind, so a re-sync updates instead of duplicating.
CREATE TABLE external_ids (
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    PRIMARY KEY (app_id, kind, external_id)
);
CREATE INDEX external_ids_object ON external_ids (object_id);

-- Grants to principals that are not accounts (e.g. a group holding a project role).
ALTER TABLE grants ADD COLUMN principal_kind TEXT NOT NULL DEFAULT 'app_user';
-- Grants a connector reported (a sync may remove them; manual grants it leaves alone).
ALTER TABLE grants ADD COLUMN synced BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sync_runs (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    completed_at BIGINT,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX sync_runs_app ON sync_runs (app_id, id);
