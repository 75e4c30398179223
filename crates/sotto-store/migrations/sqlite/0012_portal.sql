-- Secure messages and the patient portal. A secure message's subject and body are sealed with
-- the patient's data key; its link is a single-use secret of which only a SHA-256 is kept.
-- One-time codes are derived from their verification's id with a key the database never sees,
-- sessions are kept as a SHA-256 of their cookie, passwords as Argon2id hashes.
CREATE TABLE secure_messages (
    id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    sealed BLOB NOT NULL,
    category TEXT,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    nudge_id TEXT REFERENCES outbox (id),
    link_hash BLOB NOT NULL UNIQUE,
    link_expires_at INTEGER NOT NULL,
    link_used_at INTEGER,
    read_at INTEGER
);
CREATE INDEX secure_messages_by_patient ON secure_messages (external_id, created_at);
CREATE TABLE portal_accounts (
    external_id TEXT PRIMARY KEY REFERENCES patients (external_id),
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE portal_verifications (
    id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    secure_message_id TEXT REFERENCES secure_messages (id),
    channel TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('pending', 'verified', 'locked'))
);
CREATE TABLE portal_sessions (
    id_hash BLOB PRIMARY KEY,
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    verification_id TEXT REFERENCES portal_verifications (id),
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at INTEGER
);
CREATE INDEX portal_sessions_by_patient ON portal_sessions (external_id);
-- Failed sign-ins per keyed hash of the name typed, whether or not an account has that name.
CREATE TABLE portal_throttle (
    key_hash BLOB PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start INTEGER NOT NULL
);
-- The portal's one-time code messages: built into Sotto (their text is not a stored version),
-- named here so that outbox rows can refer to them like any template.
INSERT INTO templates (id, name, channel, created_at, created_by) VALUES
    ('sotto_portal_code_email', 'Sotto portal sign-in code (email)', 'email', 0, 'system'),
    ('sotto_portal_code_sms', 'Sotto portal sign-in code (SMS)', 'sms', 0, 'system');
