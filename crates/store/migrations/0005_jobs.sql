-- Background work (issue: connectors and sync): a job table with leases, per-app sync locks and
-- the change-event outbox. Portable SQL only: no sequences, advisory locks or LISTEN/NOTIFY, so
-- several `chamberlain serve` replicas coordinate through these rows alone.

-- One row per unit of background work. A worker claims a due row by setting `lease_owner` and
-- `lease_expires_at` in a conditional UPDATE; it renews the lease while it works. A row whose
-- lease expired (its replica died) is due again, so the work is retried elsewhere.
-- `active_key` is set while the job is queued or running and cleared when it ends; its unique
-- index keeps at most one live job per key (e.g. one pending sync per connector).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    active_key TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    last_error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_active_key ON jobs (active_key);
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_subject ON jobs (subject_id, id);

-- Held while an app syncs, by a job or an upload, on any replica. The sync's final transaction
-- checks it still holds the lock, so a replica whose lease lapsed can never apply stale data
-- over a newer sync.
CREATE TABLE sync_locks (
    app_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The outbox of domain changes that other features react to (directory resolution, automation,
-- the MCP gateway's index). Written in the transaction that made the change, read by cursor.
CREATE TABLE change_events (
    id TEXT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX change_events_app ON change_events (app_id, id);
