-- The consent ledger, HIPAA authorizations and their revocations, suppressions, sends,
-- gate decisions and SMS replies (PostgreSQL). Ledger rows can never be changed or removed,
-- and authorizations not before their retention period ends.
CREATE TABLE consents (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    channel TEXT NOT NULL,
    topic TEXT,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    captured_at BIGINT NOT NULL,
    evidence TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX consents_by_patient ON consents (external_id, id);

CREATE TABLE authorizations (
    id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    form_version TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    expires_at BIGINT,
    expires_on TEXT,
    expiration_event TEXT,
    remuneration_involved BIGINT NOT NULL,
    document BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retain_until BIGINT NOT NULL
);
CREATE INDEX authorizations_by_patient ON authorizations (external_id);

CREATE TABLE authorization_revocations (
    authorization_id TEXT PRIMARY KEY REFERENCES authorizations (id),
    revoked_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);

CREATE FUNCTION sotto_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME;
END;
$$;
CREATE FUNCTION sotto_retain_authorization() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'authorizations are immutable';
    END IF;
    IF OLD.retain_until > (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT THEN
        RAISE EXCEPTION 'authorizations are retained for six years';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER consents_are_append_only BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION sotto_refuse_change();
CREATE TRIGGER revocations_are_append_only BEFORE UPDATE OR DELETE ON authorization_revocations
    FOR EACH ROW EXECUTE FUNCTION sotto_refuse_change();
CREATE TRIGGER authorizations_are_retained BEFORE UPDATE OR DELETE ON authorizations
    FOR EACH ROW EXECUTE FUNCTION sotto_retain_authorization();

CREATE TABLE suppressions (
    external_id TEXT NOT NULL REFERENCES patients (external_id),
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (external_id, channel, reason)
);

CREATE TABLE sends (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL,
    sent_at BIGINT NOT NULL
);
CREATE INDEX sends_by_patient ON sends (external_id, sent_at);

CREATE TABLE gate_decisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decided_at BIGINT NOT NULL,
    external_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL,
    decision TEXT NOT NULL,
    reasons TEXT NOT NULL
);
CREATE INDEX gate_decisions_by_time ON gate_decisions (decided_at);

CREATE TABLE sms_replies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_index BYTEA NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sms_replies_by_phone ON sms_replies (phone_index, kind, created_at);
