-- Staff accounts (roles, Argon2id password hashes, TOTP secrets sealed with a key the database
-- never holds), their sessions kept as SHA-256 of the cookie, break-glass grants (the stated
-- reason sealed), API clients for OAuth client credentials and signed requests, and the
-- signatures of signed requests seen inside their replay window (shared by every process).
CREATE TABLE staff_users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    totp_sealed BLOB,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    invite_hash BLOB UNIQUE,
    invite_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    disabled_at INTEGER,
    last_sign_in_at INTEGER,
    last_failure_at INTEGER
);
CREATE TABLE staff_sessions (
    id_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES staff_users (id),
    mfa_done INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at INTEGER,
    reauth_at INTEGER
);
CREATE INDEX staff_sessions_by_user ON staff_sessions (user_id);
CREATE TABLE break_glass (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES staff_users (id),
    sealed_reason BLOB NOT NULL,
    started_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    ended_at INTEGER,
    reviewed_by TEXT,
    reviewed_at INTEGER
);
CREATE INDEX break_glass_by_user ON break_glass (user_id, ends_at);
CREATE TABLE api_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    sealed_secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
);
CREATE TABLE signed_requests (
    signature_hash BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX signed_requests_expiry ON signed_requests (expires_at);
