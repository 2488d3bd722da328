-- The transparency ledger (DESIGN §5): an RFC 6962 Merkle log of every event.
-- Entry i is the canonical encoding of event seq = i + 1; the sequencer appends entries in
-- batches and signs checkpoints. Everything here is append-only.

CREATE TABLE ledger_entries (
    idx            INTEGER PRIMARY KEY CHECK (idx >= 0),
    event_seq      INTEGER NOT NULL UNIQUE REFERENCES events(seq),
    entry          BLOB    NOT NULL,
    -- Who may read the entry: the two parties of its file (organisation codes).
    submission_id  TEXT,
    sender_org     TEXT,
    receiver_org   TEXT,
    appended_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX ledger_entries_submission ON ledger_entries (submission_id);
CREATE INDEX ledger_entries_sender ON ledger_entries (sender_org);
CREATE INDEX ledger_entries_receiver ON ledger_entries (receiver_org);

-- Hashes of every complete subtree: level 0 are leaf hashes; (level k, idx i) covers
-- leaves [i·2^k, (i+1)·2^k). Appending and proving read O(log n) of them.
CREATE TABLE ledger_nodes (
    level  INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx    INTEGER NOT NULL CHECK (idx >= 0),
    hash   BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- Signed checkpoints (C2SP tlog-checkpoint as a signed note), one per tree size signed.
CREATE TABLE ledger_checkpoints (
    size       INTEGER PRIMARY KEY CHECK (size >= 0),
    root       BLOB    NOT NULL CHECK (length(root) = 32),
    note       TEXT    NOT NULL,
    signed_at  INTEGER NOT NULL
) STRICT;

CREATE TRIGGER ledger_entries_append_only_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_entries_append_only_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_nodes_append_only_update BEFORE UPDATE ON ledger_nodes
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_nodes_append_only_delete BEFORE DELETE ON ledger_nodes
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_checkpoints_append_only_update BEFORE UPDATE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER ledger_checkpoints_append_only_delete BEFORE DELETE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;

-- A random key per submission, known to its two parties, for the ledger's content
-- commitments: entries carry HMAC-SHA256(key, SHA-256 of the content) instead of the hash,
-- so nobody else can confirm a guess of a small file's content by hashing candidates.
ALTER TABLE submissions ADD COLUMN commitment_key BLOB;
