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
    totp_sealed BYTEA,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    invite_hash BYTEA UNIQUE,
    invite_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    disabled_at BIGINT,
    last_sign_in_at BIGINT,
    last_failure_at BIGINT
);
CREATE TABLE staff_sessions (
    id_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES staff_users (id),
    mfa_done BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT,
    reauth_at BIGINT
);
CREATE INDEX staff_sessions_by_user ON staff_sessions (user_id);
CREATE TABLE break_glass (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES staff_users (id),
    sealed_reason BYTEA NOT NULL,
    started_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    ended_at BIGINT,
    reviewed_by TEXT,
    reviewed_at BIGINT
);
CREATE INDEX break_glass_by_user ON break_glass (user_id, ends_at);
CREATE TABLE api_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE TABLE signed_requests (
    signature_hash BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX signed_requests_expiry ON signed_requests (expires_at);
