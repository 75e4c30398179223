-- SMS opt-outs and opt-ins by number (its blind index), kept whether or not the number
-- belongs to a patient yet, so a STOP is never lost (SQLite). The ledger is append-only.
CREATE TABLE sms_number_consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_index BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('opted_out', 'opted_in')),
    captured_at INTEGER NOT NULL
);
CREATE INDEX sms_number_consents_by_phone ON sms_number_consents (phone_index, id);
CREATE TRIGGER sms_number_consents_are_append_only_update BEFORE UPDATE ON sms_number_consents
BEGIN SELECT RAISE(ABORT, 'number consent records are append-only'); END;
CREATE TRIGGER sms_number_consents_are_append_only_delete BEFORE DELETE ON sms_number_consents
BEGIN SELECT RAISE(ABORT, 'number consent records are append-only'); END;
