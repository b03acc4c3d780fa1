-- One row per grant end a warning was sent for (the outbox event `grant.expiring`). Keyed by
-- the end time too, so an extended grant is warned again before its new end.
CREATE TABLE grant_expiry_notices (
    grant_id TEXT NOT NULL,
    deprovision_at BIGINT NOT NULL,
    noticed_at BIGINT NOT NULL,
    PRIMARY KEY (grant_id, deprovision_at)
);
