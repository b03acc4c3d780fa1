-- Connectors under apps. `doc` is the C1 Connector object without its configuration; the
-- configuration (which holds secrets) lives only in `config_sealed`, encrypted by the server.
CREATE TABLE connectors (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    config_sealed TEXT NOT NULL DEFAULT '',
    doc TEXT NOT NULL
);
CREATE INDEX connectors_app ON connectors (app_id, id);
