-- The outbox (PostgreSQL): one row per message intent, keyed by its idempotency key. Rows keep
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
    template_version BIGINT,
    uses_phi BIGINT NOT NULL,
    urgent BIGINT NOT NULL DEFAULT 0,
    context TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'deferred', 'sending', 'sent', 'delivered', 'bounced', 'failed', 'denied', 'dead', 'uncertain')),
    decision TEXT,
    reasons TEXT NOT NULL DEFAULT '',
    attempts BIGINT NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    lease_until BIGINT,
    provider TEXT,
    provider_message_id TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_provider_id ON outbox (provider_message_id);

ALTER TABLE sends ADD COLUMN outbox_id TEXT;
ALTER TABLE suppressions ADD COLUMN evidence TEXT NOT NULL DEFAULT '{}';
CREATE INDEX sends_by_outbox ON sends (outbox_id);

CREATE TABLE dispatch_control (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    paused BIGINT NOT NULL,
    reason TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
INSERT INTO dispatch_control (id, paused, reason, changed_at) VALUES (1, 0, '', 0);
