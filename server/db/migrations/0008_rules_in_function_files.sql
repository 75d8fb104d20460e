-- From here on the functions and triggers live in server/db/functions/, one readable file per
-- rule, applied again whenever it changes (see server/db/migrate.py). This drops what earlier
-- migrations made, so that every database, however it was migrated, gets exactly the files'
-- definitions: 0004 and 0005 were edited after they landed, so a database migrated before the
-- first release may have an older notify function or no claim_deliveries() at all.
DROP TRIGGER IF EXISTS deliveries_queued ON deliveries;
DROP TRIGGER IF EXISTS deliveries_requeued ON deliveries;
DROP FUNCTION IF EXISTS notify_deliveries();
DROP FUNCTION IF EXISTS notify_deliveries_queued();
DROP FUNCTION IF EXISTS notify_deliveries_pending();

DROP FUNCTION IF EXISTS next_sync_version(text);
DROP FUNCTION IF EXISTS send_notification(
    text[], text, text, text, text, text, text, jsonb, text, text, text, integer, integer, integer);
DROP FUNCTION IF EXISTS claim_deliveries(uuid[]);
DROP FUNCTION IF EXISTS delivery_contents(uuid, text);
DROP FUNCTION IF EXISTS delivery_recipients(text, preferences);
