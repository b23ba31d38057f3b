-- Bounce evidence: what ties a bounce to the one address it may act on, and what makes reading
-- the same bounce twice harmless.

-- A message's VERP return path is made when it is sent, from its outbox id and the token secret,
-- and a bounce finds its message by that id; outbox.envelope_from keeps the bounce mailbox.
DROP INDEX outbox_by_envelope;

-- A bounce mail is known by its Message-ID, else by a hash of its content; one already stored is
-- not read again.
ALTER TABLE bounce_mails ADD COLUMN mail_key TEXT;
CREATE UNIQUE INDEX bounce_mails_by_key ON bounce_mails (mail_key);

-- Bounces gain the 'too-large' verdict (a refusal of the message, not of the address) and
-- `proven`: 1 when the bounce is shown to be about the message's own recipient (the reply to our
-- own send, or a bounce mail carrying the message's VERP return path). Only proven bounces
-- suppress or count towards the soft-bounce threshold.
CREATE TABLE bounces_new (
    bounce_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    email          TEXT NOT NULL,
    verdict        TEXT NOT NULL
        CHECK (verdict IN ('hard', 'soft', 'policy', 'too-large', 'complaint', 'auto-reply',
                           'delivered')),
    status         TEXT,
    detail         TEXT NOT NULL,
    outbox_id      INTEGER REFERENCES outbox (outbox_id),
    bounce_mail_id INTEGER REFERENCES bounce_mails (bounce_mail_id),
    proven         INTEGER NOT NULL DEFAULT 1 CHECK (proven IN (0, 1))
);
INSERT INTO bounces_new (bounce_id, at, email, verdict, status, detail, outbox_id, bounce_mail_id)
    SELECT bounce_id, at, email, verdict, status, detail, outbox_id, bounce_mail_id FROM bounces;
DROP TABLE bounces;
ALTER TABLE bounces_new RENAME TO bounces;
CREATE INDEX bounces_by_email ON bounces (email, at);
-- A refusal at send time counts once per message and verdict, however often it is retried.
CREATE UNIQUE INDEX bounces_once_per_send ON bounces (outbox_id, verdict)
    WHERE bounce_mail_id IS NULL;
