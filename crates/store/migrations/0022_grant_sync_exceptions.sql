-- Live grants a re-sync cannot take as "synced, derived from nothing": grants added by hand and
-- grants with sources (expansion, bindings). A re-sync reads every other live pair index-only
-- from grants_live and reads whole rows only for these (crates/sync/src/apply.rs). Few rows
-- match, so the index costs writes little.
CREATE INDEX IF NOT EXISTS grants_sync_exceptions ON grants (entitlement_id, app_user_id) WHERE deleted_at IS NULL AND (synced = 0 OR sources <> '[]');
