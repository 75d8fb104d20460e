-- "Why did nobody get an email?": the send records, per stored notification and external
-- channel, what it decided: 'queued', or why not (external_skip_reason() of
-- functions/delivery_rules.sql). Null for notifications stored before this, whose reasons
-- were not kept. Written by the statement that stores the row, so it costs the send no
-- statement and no row of its own.
ALTER TABLE notifications
    ADD COLUMN email_decision text,
    ADD COLUMN push_decision text;

-- A failed delivery an admin has looked at and dismissed leaves the failed list and the
-- traybell_deliveries{status="failed"} gauge, so an alert on it can clear; a retry undoes it.
ALTER TABLE deliveries ADD COLUMN dismissed_at timestamptz;
