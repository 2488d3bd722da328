-- Notifications: what reaches each person (address, language, topics), an organisation's
-- webhook endpoints, and every notification with each attempt to send it. None of it holds an
-- examinee's data: notices carry identifiers, organisation names, counts, states and times.

-- NULL topics: the defaults of the person's role.
CREATE TABLE person_notifications (
    user_id     BIGINT PRIMARY KEY REFERENCES users(id),
    org_id      BIGINT  NOT NULL REFERENCES orgs(id),
    email       TEXT    CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
    language    TEXT    NOT NULL DEFAULT 'ja' CHECK (language IN ('ja', 'en')),
    topics      TEXT,
    updated_at  BIGINT  NOT NULL
);

-- The signing secret is wrapped by the key-encryption key, bound to the endpoint's id.
CREATE TABLE webhook_endpoints (
    id          TEXT    PRIMARY KEY,
    org_id      BIGINT  NOT NULL REFERENCES orgs(id),
    url         TEXT    NOT NULL CHECK (length(url) BETWEEN 9 AND 2000),
    topics      TEXT    NOT NULL,
    secret      BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL,
    removed_at  BIGINT
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id);

-- One notice to one target ('user:<id>' by e-mail, 'endpoint:<id>' by webhook), at most once.
CREATE TABLE notifications (
    id          TEXT    PRIMARY KEY,
    org_id      BIGINT  REFERENCES orgs(id),
    notice_key  TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    channel     TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
    target      TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    BIGINT  NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    sent_at     BIGINT,
    UNIQUE (notice_key, channel, target)
);
CREATE INDEX notifications_org ON notifications (org_id, created_at);

CREATE TABLE notification_attempts (
    notification_id TEXT    NOT NULL REFERENCES notifications(id),
    org_id          BIGINT  REFERENCES orgs(id),
    attempt         BIGINT  NOT NULL,
    at              BIGINT  NOT NULL,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('sent', 'failed')),
    detail          TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (notification_id, attempt)
);

ALTER TABLE person_notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON person_notifications TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON person_notifications TO kenshin_app;
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON webhook_endpoints TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id());
GRANT SELECT, INSERT, UPDATE ON webhook_endpoints TO kenshin_app;
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON notifications TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON notifications TO kenshin_app;
ALTER TABLE notification_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON notification_attempts TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON notification_attempts TO kenshin_app;
