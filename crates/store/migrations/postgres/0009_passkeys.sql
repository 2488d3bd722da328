-- Passkeys (WebAuthn credentials) a person registered as a second factor beside TOTP. The
-- stored credential is webauthn-rs's record of it: the public key, its signature counter and
-- backup state — nothing that opens anything by itself.
CREATE TABLE person_passkeys (
    id            TEXT    PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    org_id        BIGINT NOT NULL REFERENCES orgs(id),
    label         TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    credential    TEXT    NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX person_passkeys_user ON person_passkeys (user_id);
ALTER TABLE person_passkeys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON person_passkeys TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON person_passkeys TO kenshin_app;
