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
-- development sink), and two states: held (a paused campaign's) and cancelled.
ALTER TABLE outbox ADD COLUMN campaign_id TEXT REFERENCES campaigns (id);
CREATE INDEX outbox_by_campaign ON outbox (campaign_id, state);
ALTER TABLE outbox DROP CONSTRAINT outbox_source_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_source_check CHECK (source IN ('transactional', 'campaign', 'journey', 'sandbox'));
ALTER TABLE outbox DROP CONSTRAINT outbox_state_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_state_check CHECK (state IN ('queued', 'deferred', 'sending', 'sent', 'delivered', 'bounced', 'failed', 'denied', 'dead', 'uncertain', 'held', 'cancelled'));
