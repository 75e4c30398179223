-- The consent ledger, HIPAA authorizations and their revocations, suppressions, sends,
-- gate decisions and SMS replies (SQLite). Ledger rows can never be changed or removed,
-- and authorizations not before their retention period ends.
CREATE TABLE consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    channel TEXT NOT NULL,
    topic TEXT,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    captured_at INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX consents_by_patient ON consents (external_id, id);
CREATE TRIGGER consents_are_append_only_update BEFORE UPDATE ON consents
BEGIN SELECT RAISE(ABORT, 'consent records are append-only'); END;
CREATE TRIGGER consents_are_append_only_delete BEFORE DELETE ON consents
BEGIN SELECT RAISE(ABORT, 'consent records are append-only'); END;

CREATE TABLE authorizations (
    id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    form_version TEXT NOT NULL,
    signed_at INTEGER NOT NULL,
    expires_at INTEGER,
    expires_on TEXT,
    expiration_event TEXT,
    remuneration_involved INTEGER NOT NULL,
    document BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retain_until INTEGER NOT NULL
);
CREATE INDEX authorizations_by_patient ON authorizations (external_id);
CREATE TRIGGER authorizations_are_immutable BEFORE UPDATE ON authorizations
BEGIN SELECT RAISE(ABORT, 'authorizations are immutable'); END;
CREATE TRIGGER authorizations_are_retained BEFORE DELETE ON authorizations
WHEN OLD.retain_until > CAST(strftime('%s', 'now') AS INTEGER) * 1000000
BEGIN SELECT RAISE(ABORT, 'authorizations are retained for six years'); END;

CREATE TABLE authorization_revocations (
    authorization_id TEXT PRIMARY KEY REFERENCES authorizations (id),
    revoked_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE TRIGGER revocations_are_append_only_update BEFORE UPDATE ON authorization_revocations
BEGIN SELECT RAISE(ABORT, 'revocations are append-only'); END;
CREATE TRIGGER revocations_are_append_only_delete BEFORE DELETE ON authorization_revocations
BEGIN SELECT RAISE(ABORT, 'revocations are append-only'); END;

CREATE TABLE suppressions (
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (external_id, channel, reason)
);

CREATE TABLE sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL,
    sent_at INTEGER NOT NULL
);
CREATE INDEX sends_by_patient ON sends (external_id, sent_at);

CREATE TABLE gate_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    decided_at INTEGER NOT NULL,
    external_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL,
    decision TEXT NOT NULL,
    reasons TEXT NOT NULL
);
CREATE INDEX gate_decisions_by_time ON gate_decisions (decided_at);

CREATE TABLE sms_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_index BLOB NOT NULL,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX sms_replies_by_phone ON sms_replies (phone_index, kind, created_at);
