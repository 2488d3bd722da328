-- Relay core: organisations, routes, client certificates, encrypted objects, submissions,
-- deliveries and the append-only event record.
-- Times are INTEGER milliseconds since the Unix epoch, UTC.

CREATE TABLE orgs (
    id          INTEGER PRIMARY KEY,
    code        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('institution', 'insurer', 'agent', 'clinic', 'operator')),
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  INTEGER NOT NULL
) STRICT;

-- 保険者番号 held by insurer organisations; a number belongs to exactly one organisation.
CREATE TABLE insurer_numbers (
    number  TEXT    PRIMARY KEY CHECK (length(number) = 8),
    org_id  INTEGER NOT NULL REFERENCES orgs(id)
) STRICT;

CREATE TABLE routes (
    id               INTEGER PRIMARY KEY,
    sender_org_id    INTEGER NOT NULL REFERENCES orgs(id),
    receiver_org_id  INTEGER NOT NULL REFERENCES orgs(id),
    mode             TEXT    NOT NULL CHECK (mode IN ('pass-through')),
    created_at       INTEGER NOT NULL,
    UNIQUE (sender_org_id, receiver_org_id),
    CHECK (sender_org_id <> receiver_org_id)
) STRICT;

-- Client certificates issued by the built-in CA. The fingerprint (SHA-256 of the DER) is how a
-- TLS peer is recognised; the serial is what a CRL lists.
CREATE TABLE certificates (
    serial             TEXT    PRIMARY KEY,
    fingerprint        TEXT    NOT NULL UNIQUE,
    org_id             INTEGER NOT NULL REFERENCES orgs(id),
    device             TEXT    NOT NULL,
    not_before         INTEGER NOT NULL,
    not_after          INTEGER NOT NULL,
    issued_at          INTEGER NOT NULL,
    revoked_at         INTEGER,
    revocation_reason  TEXT
) STRICT;
CREATE INDEX certificates_org ON certificates (org_id);

-- Number of the last CRL published, so every CRL gets a larger one (RFC 5280 §5.2.3).
CREATE TABLE crl_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    crl_number  INTEGER NOT NULL
) STRICT;
INSERT INTO crl_state (id, crl_number) VALUES (1, 0);

-- Encrypted blobs. The wrapped data key is the only way to read a blob: setting it to NULL is
-- the destruction of the content (crypto-shredding); the blob file is deleted afterwards.
CREATE TABLE objects (
    id                TEXT    PRIMARY KEY,
    kek_id            TEXT    NOT NULL,
    wrapped_key       BLOB,
    plaintext_size    INTEGER NOT NULL CHECK (plaintext_size >= 0),
    plaintext_sha256  TEXT    NOT NULL CHECK (length(plaintext_sha256) = 64),
    ciphertext_size   INTEGER NOT NULL CHECK (ciphertext_size > 0),
    created_at        INTEGER NOT NULL,
    shredded_at       INTEGER,
    CHECK ((wrapped_key IS NULL) = (shredded_at IS NOT NULL))
) STRICT;

CREATE TABLE submissions (
    id                  TEXT    PRIMARY KEY,
    sender_org_id       INTEGER NOT NULL REFERENCES orgs(id),
    sender_cert_serial  TEXT    REFERENCES certificates(serial),
    filename            TEXT    NOT NULL,
    size                INTEGER NOT NULL CHECK (size >= 0),
    sha256              TEXT    NOT NULL CHECK (length(sha256) = 64),
    state               TEXT    NOT NULL CHECK (state IN ('received', 'converting', 'delivered', 'rejected', 'withdrawn')),
    object_id           TEXT    NOT NULL REFERENCES objects(id),
    received_at         INTEGER NOT NULL,
    withdrawn_at        INTEGER
) STRICT;
CREATE INDEX submissions_sender ON submissions (sender_org_id, received_at DESC);

CREATE TABLE deliveries (
    id                   TEXT    PRIMARY KEY,
    submission_id        TEXT    NOT NULL REFERENCES submissions(id),
    receiver_org_id      INTEGER NOT NULL REFERENCES orgs(id),
    object_id            TEXT    NOT NULL REFERENCES objects(id),
    -- What the receiver's download is called (the sender's name for pass-through).
    filename             TEXT    NOT NULL,
    state                TEXT    NOT NULL CHECK (state IN ('ready', 'downloaded', 'confirmed', 'expired', 'withdrawn')),
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    first_downloaded_at  INTEGER,
    download_count       INTEGER NOT NULL DEFAULT 0,
    confirmed_at         INTEGER,
    shredded_at          INTEGER
) STRICT;
CREATE INDEX deliveries_receiver ON deliveries (receiver_org_id, created_at DESC);
CREATE INDEX deliveries_submission ON deliveries (submission_id);
CREATE INDEX deliveries_open_by_expiry ON deliveries (expires_at) WHERE state IN ('ready', 'downloaded');

-- One row per lifecycle event: identifiers, organisation codes, sizes and times only — no file
-- names, no content hashes, no personal data. Append-only: the database refuses changes.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    actor_org      TEXT,
    submission_id  TEXT,
    delivery_id    TEXT,
    object_id      TEXT,
    sender_org     TEXT,
    receiver_org   TEXT,
    reason         TEXT,
    size           INTEGER,
    ciphertext_size INTEGER
) STRICT;
CREATE INDEX events_submission ON events (submission_id);

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
