-- A digest of what the source last said about each synced object, so a re-sync recognizes
-- unchanged objects without loading them (issue: connectors and sync, re-sync figures).
ALTER TABLE external_ids ADD COLUMN source_hash TEXT NOT NULL DEFAULT '';
