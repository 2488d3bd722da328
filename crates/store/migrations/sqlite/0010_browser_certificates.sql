-- An organisation may require its people to present their own client certificate in the
-- browser as well as password + TOTP (the guideline's strictest reading). The operator's
-- people always must; the server enforces that whatever this column says.
ALTER TABLE orgs ADD COLUMN browser_certificate_required INTEGER NOT NULL DEFAULT 0
    CHECK (browser_certificate_required IN (0, 1));
