-- Bounce evidence: what ties a bounce to the one address it may act on, and what makes reading
-- the same bounce twice harmless.

-- A message's VERP return path is made when it is sent, from its outbox id and the token secret,
-- and a bounce finds its message by that id; outbox.envelope_from keeps the bounce mailbox.
DROP INDEX outbox_by_envelope;

-- A bounce mail is known by its Message-ID, else by a hash of its content; one already stored is
-- not read again. (NULL keys, as in SQLite, do not collide.)
ALTER TABLE bounce_mails ADD COLUMN mail_key text;
CREATE UNIQUE INDEX bounce_mails_by_key ON bounce_mails (mail_key);

-- Bounces gain the 'too-large' verdict (a refusal of the message, not of the address) and
-- `proven`: true when the bounce is shown to be about the message's own recipient (the reply to
-- our own send, or a bounce mail carrying the message's VERP return path). Only proven bounces
-- suppress or count towards the soft-bounce threshold. (SQLite rebuilds the table to change a
-- CHECK; here the constraint is replaced in place and existing rows keep proven = true.)
ALTER TABLE bounces DROP CONSTRAINT bounces_verdict_check;
ALTER TABLE bounces ADD CONSTRAINT bounces_verdict_check
    CHECK (verdict IN ('hard', 'soft', 'policy', 'too-large', 'complaint', 'auto-reply',
                       'delivered'));
ALTER TABLE bounces ADD COLUMN proven boolean NOT NULL DEFAULT true;
-- A refusal at send time counts once per message and verdict, however often it is retried.
CREATE UNIQUE INDEX bounces_once_per_send ON bounces (outbox_id, verdict)
    WHERE bounce_mail_id IS NULL;
