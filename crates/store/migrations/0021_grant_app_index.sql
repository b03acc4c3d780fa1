-- An app's user count (`userCount` on every app the API returns) counts the distinct accounts
-- holding a live grant in the app: without this index that scanned every grant of every app
-- (about a second with 1,000,000 grants); with it, only the app's own index entries.
CREATE INDEX IF NOT EXISTS grants_app_users ON grants (app_id, principal_kind, app_user_id) WHERE deleted_at IS NULL;
