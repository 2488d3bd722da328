-- Records of a converted file that were not delivered are kept for the sender as batches,
-- never dropped: 'unrouted' ones (no receiver takes their 保険者番号 yet; one batch per
-- number, in the standard CSV, released to the receiver as a delivery of its own once a route
-- takes them) and 'rejected' ones (cannot be identified: the rows as sent, with the reason).
-- Each batch is an encrypted object of its own; it ends released, expired or withdrawn, each
-- with a ledger entry.
CREATE TABLE held_batches (
    id              TEXT    PRIMARY KEY,
    submission_id   TEXT    NOT NULL REFERENCES submissions(id),
    sender_org_id   INTEGER NOT NULL REFERENCES orgs(id),
    reason          TEXT    NOT NULL CHECK (reason IN ('unrouted', 'rejected')),
    insurer_number  TEXT    NOT NULL,
    object_id       TEXT    NOT NULL REFERENCES objects(id),
    filename        TEXT    NOT NULL,
    records         INTEGER NOT NULL CHECK (records > 0),
    state           TEXT    NOT NULL CHECK (state IN ('held', 'released', 'expired', 'withdrawn')),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    download_count  INTEGER NOT NULL DEFAULT 0,
    released_at     INTEGER,
    delivery_id     TEXT    REFERENCES deliveries(id),
    closed_at       INTEGER
) STRICT;
CREATE INDEX held_batches_submission ON held_batches (submission_id);
CREATE INDEX held_batches_open ON held_batches (state, expires_at);
