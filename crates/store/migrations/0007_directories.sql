-- Directories and identity resolution (issue 4).

-- One row per app designated as a directory (the app id is the directory's id). A deleted
-- directory keeps its row with `deleted_at`; designating the app again revives it.
CREATE TABLE directories (
    id TEXT PRIMARY KEY,
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);

-- Who set an account's owner: '' (nobody), 'manual' (an admin; automatic matching leaves it
-- alone), 'directory' (directory resolution) or 'matching' (the app's identity matching).
ALTER TABLE app_users ADD COLUMN link_source TEXT NOT NULL DEFAULT '';

-- Work to do: a change that affects resolution bumps `wanted` for its scope in its own
-- transaction; a run records the `wanted` it started from in `resolved`. The worker runs a
-- scope while resolved < wanted, so a change during a run is never lost.
CREATE TABLE identity_scopes (
    scope TEXT PRIMARY KEY,
    wanted BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- History of resolution runs and their results (conflicts, per-account errors).
CREATE TABLE identity_runs (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX identity_runs_scope ON identity_runs (scope, id);
