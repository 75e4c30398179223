-- Campaigns: what to send to whom and when (the spec, as JSON), where the campaign stands,
-- who wrote and who approved it, and the template versions pinned at launch. Its messages
-- are outbox rows that name it.
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    pinned TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    approved_by TEXT,
    approved_at BIGINT,
    launched_at BIGINT,
    audience BIGINT,
    second_approved_by TEXT,
    second_approved_at BIGINT
);

-- Each recipient's arm (A, B or held out), drawn at launch, for measuring conversions.
CREATE TABLE campaign_recipients (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    external_id TEXT NOT NULL,
    arm TEXT NOT NULL CHECK (arm IN ('a', 'b', 'holdout')),
    PRIMARY KEY (campaign_id, external_id)
);

-- The outbox gains the campaign a message belongs to, sandbox keys' messages (kept by the
-- development sink), and two states: held (a paused campaign's) and cancelled. SQLite
-- cannot change a CHECK, so the table is rebuilt with its rows.
CREATE TABLE outbox_next (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('transactional', 'campaign', 'journey', 'sandbox')),
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    purpose TEXT NOT NULL,
    topic TEXT,
    template_id TEXT NOT NULL REFERENCES templates (id),
    template_version INTEGER,
    uses_phi INTEGER NOT NULL,
    urgent INTEGER NOT NULL DEFAULT 0,
    context TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'deferred', 'sending', 'sent', 'delivered', 'bounced', 'failed', 'denied', 'dead', 'uncertain', 'held', 'cancelled')),
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
    sent_at INTEGER,
    campaign_id TEXT REFERENCES campaigns (id)
);
INSERT INTO outbox_next (id, idempotency_key, source, external_id, channel, purpose, topic, template_id, template_version, uses_phi, urgent, context, state, decision,
    reasons, attempts, not_before, next_attempt_at, claimed_by, lease_until, provider, provider_message_id, last_error, created_at, updated_at, sent_at)
SELECT id, idempotency_key, source, external_id, channel, purpose, topic, template_id, template_version, uses_phi, urgent, context, state, decision,
    reasons, attempts, not_before, next_attempt_at, claimed_by, lease_until, provider, provider_message_id, last_error, created_at, updated_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_provider_id ON outbox (provider_message_id);
CREATE INDEX outbox_by_campaign ON outbox (campaign_id, state);
