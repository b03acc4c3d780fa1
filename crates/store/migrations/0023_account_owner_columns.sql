-- An account's owner lives in columns: identity resolution links and unlinks accounts by
-- changing `identity_user_id` and `link_source` (and `linked_at`, when that happened) without
-- rewriting the account's document, whose `identityUserId` may therefore be stale. Reads
-- take the owner from the column and `updatedAt` as the later of the document's and
-- `linked_at` (crates/store/src/repo/mod.rs, `Record for AppUser`).
ALTER TABLE app_users ADD COLUMN linked_at BIGINT;
