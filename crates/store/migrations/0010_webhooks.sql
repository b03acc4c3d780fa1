-- Outbound webhooks (C1's `c1.api.webhooks.v1.Webhook`) and their deliveries.

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    name_lc TEXT NOT NULL,
    description_lc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);

-- One row per delivery (a webhook instance): the event sent, for which subject (a task, a
-- test), where it stands and the reply. Attempts run as `webhook_delivery` jobs; the single-use
-- callback URL of the latest attempt is kept only as the SHA-256 of its token.
-- state: pending | waiting_callback | done | failed | gone.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    event TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_attempt_at BIGINT,
    last_error TEXT NOT NULL,
    reply TEXT,
    callback_token_hash TEXT,
    callback_expires_at BIGINT,
    callback_used_at BIGINT,
    destination TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (subject_id, id);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE UNIQUE INDEX webhook_deliveries_token ON webhook_deliveries (callback_token_hash);
