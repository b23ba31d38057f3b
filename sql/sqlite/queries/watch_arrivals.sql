-- The party arrivals no matching step has read yet, oldest first (?1 = how many), each with
-- its case and whether that case may be told of at all: not confidential, of a court in MCAP,
-- of a case type the court does not exclude.
SELECT pa.seq,
       pa.case_number,
       pa.name,
       pa.role,
       pa.arrived_at,
       c.court_id,
       c.case_type,
       c.filed_at,
       (c.confidential = 0 AND ct.mcap = 1
        AND NOT EXISTS (SELECT 1 FROM court_excluded_case_types x
                        WHERE x.court_id = c.court_id AND x.case_type = c.case_type)) AS notifiable
FROM party_arrivals pa
JOIN cases c ON c.case_number = pa.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE pa.matched_at IS NULL
ORDER BY pa.seq
LIMIT ?1
