-- claim_deliveries() also returns the language of each job's user (the worker renders the
-- message in it): a new result type, so the old function goes and
-- functions/claim_deliveries.sql makes it again.
DROP FUNCTION IF EXISTS claim_deliveries(uuid[], integer, integer);
