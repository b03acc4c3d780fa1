-- "Open tasks of an entitlement" (and of an app) without sorting every task of a busy
-- entitlement: the state is in the index next to the entitlement, ids in order.
CREATE INDEX tasks_entitlement_state ON tasks (entitlement_id, state, id);
CREATE INDEX tasks_app_state ON tasks (app_id, state, id);
