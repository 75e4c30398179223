-- Journeys: versioned definitions with governance (approval by someone other than the
-- author, the hash of what was approved, a review date), one durable run per key with its
-- position, context and next wake-up, and a mark on each event once journeys have read it.
CREATE TABLE journeys (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'approved', 'superseded', 'archived')),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    approved_by TEXT,
    approved_at INTEGER,
    approved_hash TEXT,
    review_due INTEGER,
    paused INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (id, version)
);
CREATE UNIQUE INDEX journeys_by_name ON journeys (name, version);

CREATE TABLE journey_runs (
    id TEXT PRIMARY KEY,
    journey_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_key TEXT NOT NULL,
    external_id TEXT NOT NULL,
    step TEXT NOT NULL,
    waiting INTEGER NOT NULL,
    context TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'done')),
    wake_at INTEGER,
    exit_reason TEXT,
    messages TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (journey_id, run_key)
);
CREATE INDEX journey_runs_due ON journey_runs (wake_at, id) WHERE state = 'active';
CREATE INDEX journey_runs_by_key ON journey_runs (run_key);
CREATE INDEX journey_runs_by_patient ON journey_runs (external_id) WHERE state = 'active';

-- Each message a journey sends records the version and step that sent it.
ALTER TABLE outbox ADD COLUMN journey_ref TEXT;

-- Events already stored are not replayed into journeys.
ALTER TABLE events ADD COLUMN journeyed INTEGER NOT NULL DEFAULT 0;
UPDATE events SET journeyed = 1;
CREATE INDEX events_for_journeys ON events (id) WHERE journeyed = 0;
