-- Notifications: one row per recipient, type, channel and cause (`dedupe_key`, unique, so a
-- fan-out that runs twice inserts nothing the second time). `doc` is the rendered message;
-- `state` is pending → sent | failed. Delivery is a `notification_delivery` job per row.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX notifications_state ON notifications (state, id);
CREATE INDEX notifications_user ON notifications (user_id, id);

-- Readers of `change_events` that must not skip or repeat: the last event each has handled.
-- The notification reader starts after the events that exist when this migration runs, so an
-- upgraded installation is not flooded with notices about its past.
CREATE TABLE event_cursors (
    name TEXT PRIMARY KEY,
    last_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO event_cursors (name, last_id, updated_at)
    SELECT 'notifications', COALESCE(MAX(id), ''), 0 FROM change_events;

-- A user's own notification preferences (`ChannelSettings`), merged over the tenant's.
CREATE TABLE user_notification_settings (
    user_id TEXT PRIMARY KEY,
    updated_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
