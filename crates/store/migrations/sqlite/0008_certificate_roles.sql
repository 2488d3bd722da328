-- A device certificate acts in roles of its own (MHLW 6.0: rights by role for machines too),
-- stored as a comma-separated list of role names. A person's certificate has none: it acts
-- with its person's role, which the server reads at each request.
ALTER TABLE certificates ADD COLUMN roles TEXT;

-- Certificates issued before roles existed get what their organisation's kind exchanges.
UPDATE certificates
   SET roles = CASE (SELECT kind FROM orgs WHERE orgs.id = certificates.org_id)
                   WHEN 'institution' THEN 'sender'
                   WHEN 'insurer'     THEN 'receiver'
                   WHEN 'agent'       THEN 'receiver'
                   WHEN 'clinic'      THEN 'sender,receiver'
                   ELSE ''
               END
 WHERE user_id IS NULL;
