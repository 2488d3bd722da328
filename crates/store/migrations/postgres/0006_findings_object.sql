-- Every finding of a conversion, not only the first ones the report keeps: an encrypted
-- object of its own (one JSON finding per line), for the sender's complete CSV.
ALTER TABLE submissions ADD COLUMN findings_object_id TEXT REFERENCES objects(id);

CREATE OR REPLACE FUNCTION kenshin_object_visible(object text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM submissions
                   WHERE (object_id = object OR report_object_id = object
                          OR findings_object_id = object)
                     AND sender_org_id = kenshin_org_id())
        OR EXISTS (SELECT 1 FROM deliveries
                   WHERE object_id = object AND receiver_org_id = kenshin_org_id())
        OR EXISTS (SELECT 1 FROM held_batches
                   WHERE object_id = object AND sender_org_id = kenshin_org_id())
$$;
