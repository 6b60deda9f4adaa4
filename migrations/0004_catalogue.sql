-- Owner-published plan catalogues. The newest row is in force; versions inside a document are
-- effective-dated, and a new document may not change anything already in force when stored.
CREATE TABLE catalogue_documents (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version    text NOT NULL CONSTRAINT catalogue_documents_version_key UNIQUE,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION catalogue_documents_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'catalogue_documents is append-only';
END $$;

CREATE TRIGGER catalogue_documents_append_only
    BEFORE UPDATE OR DELETE ON catalogue_documents
    FOR EACH ROW EXECUTE FUNCTION catalogue_documents_append_only();
