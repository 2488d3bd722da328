-- A client certificate may be issued to a person (a browser or a person's own tool) rather
-- than to a device; disabling the person revokes it in the same transaction.
ALTER TABLE certificates ADD COLUMN user_id INTEGER REFERENCES users(id);
CREATE INDEX certificates_user ON certificates(user_id) WHERE user_id IS NOT NULL;
