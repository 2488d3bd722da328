-- Row-level security. The application never acts as the owner of these tables (owners and
-- superusers bypass RLS): after connecting it switches to kenshin_app, which holds only the
-- rights below. Every transaction names whose rows it may see in the setting kenshin.scope:
-- an organisation's id, or 'system' for the relay's own cross-organisation work. A
-- transaction that names nothing sees no tenant row at all.

DO $$
BEGIN
    -- Roles belong to the whole server; another database's migration may create it at the
    -- same moment.
    BEGIN
        CREATE ROLE kenshin_app NOLOGIN NOSUPERUSER NOINHERIT NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    -- The migrating role must be able to SET ROLE kenshin_app (a superuser always can).
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT kenshin_app TO %I', current_user);
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO kenshin_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kenshin_app;
REVOKE ALL ON _sqlx_migrations FROM kenshin_app;
-- Append-only at the level of rights as well as by trigger.
REVOKE UPDATE, DELETE ON events, ledger_entries, ledger_nodes, ledger_checkpoints FROM kenshin_app;
REVOKE UPDATE ON access_log FROM kenshin_app;
REVOKE DELETE ON access_log_expiry FROM kenshin_app;
-- A map version's content never changes; only its activation does.
REVOKE UPDATE ON maps FROM kenshin_app;
GRANT UPDATE (activated_at, retired_at) ON maps TO kenshin_app;

CREATE FUNCTION kenshin_scope() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('kenshin.scope', true), '')
$$;
CREATE FUNCTION kenshin_is_system() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT kenshin_scope() = 'system'
$$;
CREATE FUNCTION kenshin_org_id() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN kenshin_scope() ~ '^[0-9]{1,18}$' THEN kenshin_scope()::bigint END
$$;
CREATE FUNCTION kenshin_org_code() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT code FROM orgs WHERE id = kenshin_org_id()
$$;

-- Cross-table checks run as the owner (SECURITY DEFINER), so that the policies of two
-- tables may refer to each other without recursing; they answer only yes/no or an id.
CREATE FUNCTION kenshin_receives(submission text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM deliveries
                   WHERE submission_id = submission AND receiver_org_id = kenshin_org_id())
$$;
CREATE FUNCTION kenshin_sender_of(submission text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT sender_org_id FROM submissions WHERE id = submission
$$;
CREATE FUNCTION kenshin_object_visible(object text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM submissions
                   WHERE (object_id = object OR report_object_id = object)
                     AND sender_org_id = kenshin_org_id())
        OR EXISTS (SELECT 1 FROM deliveries
                   WHERE object_id = object AND receiver_org_id = kenshin_org_id())
$$;
CREATE FUNCTION kenshin_user_org(person bigint) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT org_id FROM users WHERE id = person
$$;
REVOKE ALL ON FUNCTION kenshin_receives(text), kenshin_sender_of(text),
    kenshin_object_visible(text), kenshin_user_org(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kenshin_receives(text), kenshin_sender_of(text),
    kenshin_object_visible(text), kenshin_user_org(bigint) TO kenshin_app;

ALTER TABLE submissions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON submissions TO kenshin_app
    USING (kenshin_is_system() OR sender_org_id = kenshin_org_id() OR kenshin_receives(id));

ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON deliveries TO kenshin_app
    USING (kenshin_is_system() OR receiver_org_id = kenshin_org_id()
           OR kenshin_sender_of(submission_id) = kenshin_org_id());

ALTER TABLE objects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON objects TO kenshin_app
    USING (kenshin_is_system() OR kenshin_object_visible(id));

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON jobs TO kenshin_app
    USING (kenshin_is_system() OR kenshin_sender_of(submission_id) = kenshin_org_id());

ALTER TABLE maps ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON maps TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id()
           OR org_id = (SELECT parent_org_id FROM orgs WHERE id = kenshin_org_id()));

ALTER TABLE usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON usage TO kenshin_app
    USING (kenshin_is_system() OR receiver_org_id = kenshin_org_id());

ALTER TABLE certificates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON certificates TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id());

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sessions TO kenshin_app
    USING (kenshin_is_system() OR kenshin_user_org(user_id) = kenshin_org_id());

ALTER TABLE user_factors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON user_factors TO kenshin_app
    USING (kenshin_is_system() OR kenshin_user_org(user_id) = kenshin_org_id());

ALTER TABLE access_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON access_log TO kenshin_app
    USING (kenshin_is_system() OR org = kenshin_org_code());

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON events TO kenshin_app
    USING (kenshin_is_system() OR kenshin_org_code() IN (actor_org, sender_org, receiver_org));

ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON ledger_entries TO kenshin_app
    USING (kenshin_is_system() OR kenshin_org_code() IN (sender_org, receiver_org));
