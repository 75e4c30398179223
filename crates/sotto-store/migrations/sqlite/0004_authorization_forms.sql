-- Versioned authorization form texts (SQLite): a version, once stored, never changes.
CREATE TABLE authorization_forms (
    version TEXT PRIMARY KEY,
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TRIGGER authorization_forms_are_immutable_update BEFORE UPDATE ON authorization_forms
BEGIN SELECT RAISE(ABORT, 'authorization form versions are immutable'); END;
CREATE TRIGGER authorization_forms_are_immutable_delete BEFORE DELETE ON authorization_forms
BEGIN SELECT RAISE(ABORT, 'authorization form versions are immutable'); END;
