-- Every finding of a conversion, not only the first ones the report keeps: an encrypted
-- object of its own (one JSON finding per line), for the sender's complete CSV.
ALTER TABLE submissions ADD COLUMN findings_object_id TEXT REFERENCES objects(id);
