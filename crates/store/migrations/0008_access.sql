-- Policies and tasks (issue 5).

CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    policy_type TEXT NOT NULL,
    name_lc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);

-- Monotonic counters (task numeric ids). Incremented inside the writing transaction, so ids
-- are unique on every replica; gaps appear only when a transaction rolls back.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('task_numeric_id', 0);

-- One row per task. `open_key` is set while the task is open ("grant:<entitlement>:<account>")
-- and cleared when it closes: the unique index makes a second identical open request
-- impossible on every backend and replica. `version` guards every update (two approvers acting
-- at once: the second update finds a newer version and re-reads).
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    numeric_id BIGINT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    origin TEXT NOT NULL,
    subject_user_id TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    app_user_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    current_step TEXT NOT NULL,
    emergency BIGINT NOT NULL,
    open_key TEXT UNIQUE,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX tasks_state ON tasks (state, id);
CREATE INDEX tasks_subject ON tasks (subject_user_id, id);
CREATE INDEX tasks_entitlement ON tasks (entitlement_id, id);
CREATE INDEX tasks_app ON tasks (app_id, id);
CREATE INDEX tasks_requester ON tasks (requester_id, id);

-- Who may act on each open task's current step (search "assigned to me").
CREATE TABLE task_assignees (
    task_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (task_id, user_id)
);
CREATE INDEX task_assignees_user ON task_assignees (user_id, task_id);

-- The task's history: every transition and comment, written in the transaction that made it.
CREATE TABLE task_audits (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    is_comment BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX task_audits_task ON task_audits (task_id, id);
