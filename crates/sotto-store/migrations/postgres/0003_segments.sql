-- The code vault (meanings sealed) and segment definitions (PostgreSQL).
CREATE TABLE vault_codes (
    code TEXT PRIMARY KEY,
    meaning BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    expr TEXT NOT NULL,
    touches_phi BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
