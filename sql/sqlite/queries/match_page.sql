-- One page of the pairs match_pairs.sql wrote, positions ?1 to ?2, with what a digest shows.
SELECT a.account_id,
       a.email,
       a.email_verified,
       EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email = lower(a.email)) AS suppressed,
       p.subscription_id,
       c.case_number,
       c.caption,
       c.court_id,
       ct.name AS court_name,
       e.seq AS entry_seq,
       e.entry_id,
       e.code,
       e.description,
       e.text,
       e.filed_by,
       e.posted_at
FROM temp.match_pairs p
JOIN accounts a ON a.account_id = p.account_id
JOIN docket_entries e ON e.seq = p.entry_seq
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE p.pos BETWEEN ?1 AND ?2
ORDER BY p.pos
