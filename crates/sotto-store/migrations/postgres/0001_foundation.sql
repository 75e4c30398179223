-- Patients, events, idempotency keys, the dictionary, API keys and the audit chain (PostgreSQL).
CREATE TABLE patients (
    external_id TEXT PRIMARY KEY,
    key_version BIGINT,
    wrapped_key BYTEA,
    identifiers BYTEA,
    email_index BYTEA,
    phone_index BYTEA,
    timezone TEXT,
    language TEXT,
    preferred_channel TEXT,
    traits TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX patients_email_index ON patients (email_index);
CREATE INDEX patients_phone_index ON patients (phone_index);

CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    name TEXT NOT NULL,
    properties TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX events_by_patient ON events (external_id, occurred_at);

CREATE TABLE ingested_messages (
    message_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE dictionary_fields (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    request_id TEXT NOT NULL,
    source_ip TEXT,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
