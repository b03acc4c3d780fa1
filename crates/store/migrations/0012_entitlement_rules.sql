-- Entitlement configuration rules (C1's AppEntitlementRoutingRule): per-app request settings
-- for entitlements matching a CEL condition, tried in priority order.
CREATE TABLE entitlement_routing_rules (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX entitlement_routing_rules_app ON entitlement_routing_rules (app_id, priority);
