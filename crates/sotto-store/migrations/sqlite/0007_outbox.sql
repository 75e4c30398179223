-- The outbox (SQLite): one row per message intent, keyed by its idempotency key. Rows keep
-- ids, the template version, the provider's message id, status and reason codes: never a
-- rendered body, never an address. Sends now name the outbox row that took the cap slot.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('transactional', 'campaign', 'journey')),
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    purpose TEXT NOT NULL,
    topic TEXT,
    template_id TEXT NOT NULL REFERENCES templates (id),
    template_version INTEGER,
    uses_phi INTEGER NOT NULL,
    urgent INTEGER NOT NULL DEFAULT 0,
    context TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'deferred', 'sending', 'sent', 'delivered', 'bounced', 'failed', 'denied', 'dead', 'uncertain')),
    decision TEXT,
    reasons TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_by TEXT,
    lease_until INTEGER,
    provider TEXT,
    provider_message_id TEXT,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_provider_id ON outbox (provider_message_id);

ALTER TABLE sends ADD COLUMN outbox_id TEXT;
ALTER TABLE suppressions ADD COLUMN evidence TEXT NOT NULL DEFAULT '{}';
CREATE INDEX sends_by_outbox ON sends (outbox_id);

CREATE TABLE dispatch_control (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    paused INTEGER NOT NULL,
    reason TEXT NOT NULL,
    changed_at INTEGER NOT NULL
);
INSERT INTO dispatch_control (id, paused, reason, changed_at) VALUES (1, 0, '', 0);
