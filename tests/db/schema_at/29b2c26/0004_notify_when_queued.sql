-- Wake the workers only when a statement queued something. The first schema's trigger ran
-- pg_notify after every INSERT statement on deliveries, also when it inserted no row, which
-- is every send of an info notification (the send's CTE always runs its INSERTs). A
-- transaction that notified takes PostgreSQL's global notify-queue lock at commit, so all
-- sends committed one at a time: the send function alone made 2,500 tx/s with it and 4,900
-- without it at 16 clients on 2 cores. Likewise an update notifies only when it made a job
-- pending (a retry, a recovery), not on every claim, heartbeat and result.
DROP TRIGGER deliveries_queued ON deliveries;
DROP FUNCTION notify_deliveries();

CREATE FUNCTION notify_deliveries_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed WHERE status = 'pending') THEN
        PERFORM pg_notify('traybell_deliveries', '');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_queued AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_deliveries_pending();
CREATE TRIGGER deliveries_requeued AFTER UPDATE ON deliveries
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_deliveries_pending();
