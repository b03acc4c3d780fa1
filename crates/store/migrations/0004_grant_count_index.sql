-- Counting an entitlement's current grants (grantCount on every entitlement list page) reads
-- only this index instead of one table row per grant, scattered over the table.
CREATE INDEX IF NOT EXISTS grants_entitlement_state ON grants (entitlement_id, principal_kind, deleted_at);
