-- Access-log retention. Rows may leave the log only by expiry: the mark below only grows, a
-- row can be deleted only at or below it, and the step that raises it also writes an
-- access_log_expired event, which the ledger takes over. Raising the mark by hand without that
-- event, or deleting any row above it, is detected by the ledger audit.
CREATE TABLE access_log_expiry (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    expired_through  INTEGER NOT NULL CHECK (expired_through >= 0)
) STRICT;
INSERT INTO access_log_expiry (id, expired_through) VALUES (1, 0);

CREATE TRIGGER access_log_expiry_only_grows BEFORE UPDATE ON access_log_expiry
WHEN NEW.expired_through < OLD.expired_through OR NEW.id <> OLD.id
BEGIN SELECT RAISE(ABORT, 'the access log expiry mark only grows'); END;
CREATE TRIGGER access_log_expiry_kept BEFORE DELETE ON access_log_expiry
BEGIN SELECT RAISE(ABORT, 'the access log expiry mark cannot be removed'); END;

DROP TRIGGER access_log_append_only_delete;
CREATE TRIGGER access_log_append_only_delete BEFORE DELETE ON access_log
WHEN OLD.seq > (SELECT expired_through FROM access_log_expiry WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
