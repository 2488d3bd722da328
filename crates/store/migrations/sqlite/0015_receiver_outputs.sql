-- What a receiving organisation is given: the formats of its converted outputs (comma list of
-- format codes, in the order chosen), and the age recipients every delivery to it is sealed to.
ALTER TABLE orgs ADD COLUMN output_formats TEXT NOT NULL DEFAULT 'std-csv';

-- Public keys only: the service never holds an identity that opens what it seals to them.
CREATE TABLE org_recipients (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id),
    recipient   TEXT    NOT NULL CHECK (length(recipient) BETWEEN 10 AND 4096),
    label       TEXT    NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    added_at    INTEGER NOT NULL,
    added_by    TEXT    NOT NULL,
    UNIQUE (org_id, recipient)
) STRICT;

-- An object that is an age file: the size and SHA-256 of the content inside it (what the sender
-- sent, or the converted output), which receipts and ledger commitments bind.
ALTER TABLE objects ADD COLUMN content_size INTEGER;
ALTER TABLE objects ADD COLUMN content_sha256 TEXT CHECK (content_sha256 IS NULL OR length(content_sha256) = 64);

-- A converted delivery's format and 保険者番号 (outputs are split by both); NULL for pass-through.
ALTER TABLE deliveries ADD COLUMN format TEXT;
ALTER TABLE deliveries ADD COLUMN insurer_number TEXT;
CREATE INDEX deliveries_receiver_state ON deliveries (receiver_org_id, state, created_at DESC);
