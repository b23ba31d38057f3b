-- The floor for the batch: the same work in SQL alone, in one transaction, on the database
-- floor_ingest.sql built. The day's entries are joined to the subscriptions active when each
-- entry posted, with the MCAP rules (not voided, not confidential, a participating court, a
-- case type not excluded, a verified address); one row per account with its digest's text
-- concatenated; one ledger row per (account, entry).
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS digests (
    digest_id INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL,
    recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    account_id TEXT NOT NULL, entry_seq INTEGER NOT NULL, digest_id INTEGER NOT NULL,
    PRIMARY KEY (account_id, entry_seq));
BEGIN;
CREATE TEMP TABLE pairs AS
SELECT a.account_id, a.email, e.seq, c.case_number, c.caption, ct.name AS court_name,
       e.posted_at, e.code, e.description, e.text, e.filed_by
FROM docket_entries e
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
JOIN subscriptions s ON s.case_number = e.case_number
    AND s.tracked_at <= e.posted_at
    AND (s.stopped_at IS NULL OR s.stopped_at > e.posted_at)
JOIN accounts a ON a.account_id = s.account_id
WHERE e.run_id IS NULL
  AND e.voided_at IS NULL
  AND c.confidential = 0
  AND ct.mcap = 1
  AND a.email_verified = 1
  AND NOT EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
  AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.account_id = s.account_id AND l.entry_seq = e.seq);
INSERT INTO digests (account_id, recipient, subject, body)
SELECT account_id, email, count(*) || ' new filings',
       group_concat(case_number || ' ' || caption || ' (' || court_name || ')' || char(10) ||
                    datetime(posted_at / 1000000, 'unixepoch') || ' ' || code || ' ' ||
                    description || ': ' || text || ' Filed by ' || filed_by, char(10))
FROM (SELECT * FROM pairs ORDER BY account_id, case_number, posted_at, seq)
GROUP BY account_id;
INSERT INTO ledger (account_id, entry_seq, digest_id)
SELECT p.account_id, p.seq, d.digest_id FROM pairs p JOIN digests d ON d.account_id = p.account_id;
UPDATE docket_entries SET run_id = 1 WHERE run_id IS NULL;
COMMIT;
SELECT count(*) AS digests FROM digests;
