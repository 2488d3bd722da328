-- Second factors in a table of their own, one row per factor, so that a person can hold
-- several and new kinds (WebAuthn credentials: `secret` the public key, `counter` the
-- signature count, `label` the authenticator's name) arrive without touching accounts.
CREATE TABLE user_factors (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    kind        TEXT    NOT NULL CHECK (kind IN ('totp', 'recovery_codes', 'webauthn')),
    -- totp: the secret wrapped by the KEK.
    secret      BLOB,
    -- totp: the last accepted time step (a code is accepted once).
    counter     INTEGER,
    -- recovery_codes: the hashes of the unspent codes.
    codes       TEXT,
    label       TEXT,
    created_at  INTEGER NOT NULL
) STRICT;
-- One TOTP and one set of recovery codes per person; WebAuthn credentials may be many.
CREATE UNIQUE INDEX user_factors_single ON user_factors (user_id, kind)
    WHERE kind IN ('totp', 'recovery_codes');

INSERT INTO user_factors (user_id, kind, secret, counter, created_at)
    SELECT id, 'totp', totp_secret, totp_last_step, created_at FROM users WHERE totp_secret IS NOT NULL;
INSERT INTO user_factors (user_id, kind, codes, created_at)
    SELECT id, 'recovery_codes', recovery_codes, created_at FROM users WHERE recovery_codes IS NOT NULL;

ALTER TABLE users DROP COLUMN totp_secret;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN recovery_codes;
