-- What a database's schema is made of, in a form two databases can be compared by (names,
-- types and definitions; never OIDs or anything else that differs between equal schemas).

-- name: relations
SELECT c.relname, c.relkind::text
FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE s.nspname = 'public'
ORDER BY 1;

-- name: columns
SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default
FROM information_schema.columns
WHERE table_schema = 'public'
ORDER BY table_name, ordinal_position;

-- name: indexes
SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 2;

-- name: constraints
SELECT c.conrelid::regclass::text AS relation, c.conname, pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace
WHERE s.nspname = 'public'
ORDER BY 1, 2;

-- name: functions
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_get_functiondef(p.oid) AS definition
FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
WHERE s.nspname = 'public'
ORDER BY 1, 2;

-- name: triggers
SELECT t.tgrelid::regclass::text AS relation, t.tgname, pg_get_triggerdef(t.oid) AS definition
FROM pg_trigger t
WHERE NOT t.tgisinternal
ORDER BY 1, 2;

-- name: recorded_migrations
SELECT name, checksum FROM schema_migrations ORDER BY name;
