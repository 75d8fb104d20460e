-- Idle workers LISTEN on traybell_deliveries. A statement on deliveries notifies only when it
-- made a job pending (a new one, a retry, a recovery), once per statement: a transaction that
-- notified takes PostgreSQL's global notify-queue lock at commit, so notifying on every send
-- of an info notification or every claim would make all of them commit one at a time.
--
-- Applied again whenever this file changes (server/db/migrate.py).

CREATE OR REPLACE FUNCTION notify_deliveries_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed WHERE status = 'pending') THEN
        PERFORM pg_notify('traybell_deliveries', '');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER deliveries_queued AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_deliveries_pending();
CREATE OR REPLACE TRIGGER deliveries_requeued AFTER UPDATE ON deliveries
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_deliveries_pending();
