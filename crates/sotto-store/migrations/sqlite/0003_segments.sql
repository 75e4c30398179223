-- The code vault (meanings sealed) and segment definitions (SQLite).
CREATE TABLE vault_codes (
    code TEXT PRIMARY KEY,
    meaning BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    expr TEXT NOT NULL,
    touches_phi INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
