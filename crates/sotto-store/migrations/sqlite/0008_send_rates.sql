-- One token bucket per provider, shared by every worker process: a hand-off takes a token
-- in one statement, so the configured rate holds however many workers send.
CREATE TABLE send_rates (
    provider TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_at BIGINT NOT NULL,
    granted BIGINT NOT NULL
);
