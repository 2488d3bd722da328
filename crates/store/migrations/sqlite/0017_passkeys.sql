-- Passkeys (WebAuthn credentials) a person registered as a second factor beside TOTP. The
-- stored credential is webauthn-rs's record of it: the public key, its signature counter and
-- backup state — nothing that opens anything by itself.
CREATE TABLE person_passkeys (
    id            TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    org_id        INTEGER NOT NULL REFERENCES orgs(id),
    label         TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    credential    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;
CREATE INDEX person_passkeys_user ON person_passkeys (user_id);
