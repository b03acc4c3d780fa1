-- The OAuth 2.0 device authorization grant (RFC 8628) for the command-line client: a device
-- asks for a code pair, the user approves or denies the user code in a signed-in browser, the
-- device redeems the device code once. The device code is stored as its SHA-256 hex digest;
-- the user code (8 letters of an unambiguous alphabet, no dash) is short-lived and shown to
-- the user, so it is stored as is.
--
-- status: PENDING | APPROVED | DENIED | REDEEMED. user_id: who approved or denied.
-- interval_secs: the polling interval the device must respect (raised by slow_down).
-- Times are microseconds since the Unix epoch.
CREATE TABLE device_authorizations (
    id TEXT PRIMARY KEY,
    device_code_hash TEXT NOT NULL,
    user_code TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    status TEXT NOT NULL,
    user_id TEXT,
    interval_secs BIGINT NOT NULL,
    last_polled_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT,
    redeemed_at BIGINT
);
CREATE UNIQUE INDEX device_authorizations_device_code ON device_authorizations (device_code_hash);
CREATE INDEX device_authorizations_user_code ON device_authorizations (user_code, expires_at);
CREATE INDEX device_authorizations_expiry ON device_authorizations (expires_at);
