-- SMS opt-outs and opt-ins by number (its blind index), kept whether or not the number
-- belongs to a patient yet, so a STOP is never lost (PostgreSQL). The ledger is append-only.
CREATE TABLE sms_number_consents (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_index BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('opted_out', 'opted_in')),
    captured_at BIGINT NOT NULL
);
CREATE INDEX sms_number_consents_by_phone ON sms_number_consents (phone_index, id);
CREATE TRIGGER sms_number_consents_are_append_only BEFORE UPDATE OR DELETE ON sms_number_consents
    FOR EACH ROW EXECUTE FUNCTION sotto_refuse_change();
