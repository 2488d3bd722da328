-- Which worker holds a running job (host, data directory and worker slot), so that a worker
-- restarted after a crash takes its own interrupted jobs back at once instead of waiting for
-- their leases to run out.
ALTER TABLE jobs ADD COLUMN holder TEXT;
