-- Records of a converted file that were not delivered are kept for the sender as batches,
-- never dropped: 'unrouted' ones (no receiver takes their 保険者番号 yet; one batch per
-- number, in the standard CSV, released to the receiver as a delivery of its own once a route
-- takes them) and 'rejected' ones (cannot be identified: the rows as sent, with the reason).
-- Each batch is an encrypted object of its own; it ends released, expired or withdrawn, each
-- with a ledger entry.
CREATE TABLE held_batches (
    id              TEXT   PRIMARY KEY,
    submission_id   TEXT   NOT NULL REFERENCES submissions(id),
    sender_org_id   BIGINT NOT NULL REFERENCES orgs(id),
    reason          TEXT   NOT NULL CHECK (reason IN ('unrouted', 'rejected')),
    insurer_number  TEXT   NOT NULL,
    object_id       TEXT   NOT NULL REFERENCES objects(id),
    filename        TEXT   NOT NULL,
    records         BIGINT NOT NULL CHECK (records > 0),
    state           TEXT   NOT NULL CHECK (state IN ('held', 'released', 'expired', 'withdrawn')),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    download_count  BIGINT NOT NULL DEFAULT 0,
    released_at     BIGINT,
    delivery_id     TEXT   REFERENCES deliveries(id),
    closed_at       BIGINT
);
CREATE INDEX held_batches_submission ON held_batches (submission_id);
CREATE INDEX held_batches_open ON held_batches (state, expires_at);

-- Only the sender sees its held records; the system sees all.
ALTER TABLE held_batches ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON held_batches TO kenshin_app
    USING (kenshin_is_system() OR sender_org_id = kenshin_org_id());
GRANT SELECT, INSERT, UPDATE ON held_batches TO kenshin_app;

-- A held batch's object is visible to its sender.
CREATE OR REPLACE FUNCTION kenshin_object_visible(object text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM submissions
                   WHERE (object_id = object OR report_object_id = object)
                     AND sender_org_id = kenshin_org_id())
        OR EXISTS (SELECT 1 FROM deliveries
                   WHERE object_id = object AND receiver_org_id = kenshin_org_id())
        OR EXISTS (SELECT 1 FROM held_batches
                   WHERE object_id = object AND sender_org_id = kenshin_org_id())
$$;
