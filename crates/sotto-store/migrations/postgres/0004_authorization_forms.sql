-- Versioned authorization form texts (PostgreSQL): a version, once stored, never changes.
CREATE TABLE authorization_forms (
    version TEXT PRIMARY KEY,
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TRIGGER authorization_forms_are_immutable BEFORE UPDATE OR DELETE ON authorization_forms
    FOR EACH ROW EXECUTE FUNCTION sotto_refuse_change();
