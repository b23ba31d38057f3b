-- The ledger rows of one message, found without reading the whole ledger: withholding and the
-- check before each send look a message's pairs up by its id (PostgreSQL has had this index
-- from the start).
CREATE INDEX notification_ledger_by_outbox ON notification_ledger (outbox_id);
