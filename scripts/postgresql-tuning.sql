-- Makes FerretDB 1.24's lookups and writes by _id use an index on PostgreSQL.
--
-- FerretDB stores each collection as a table with one jsonb column, _jsonb, and filters
-- {_id: value} as `_jsonb->$1 @> $2`. Its own unique index on (_jsonb->'_id') is a btree, which
-- `@>` cannot use, and the parameterised key keeps any index out of a generic plan: every
-- findOne, replaceOne, updateOne and deleteOne by _id scans the whole table (measured: 38 ms at
-- 50,000 documents, growing with the table). With the two changes below the same calls take
-- 3 to 7 ms whatever the size:
--   1. plan_cache_mode = force_custom_plan: the key is planned as the literal '_id';
--   2. a GIN index on (_jsonb->'_id') in every FerretDB table, made by an event trigger as
--      FerretDB creates the table (and here for the tables that exist already).
--
-- Run it once per database, as a superuser (event triggers need one), before or after the
-- first start: psql "$POSTGRESQL_URL" -f scripts/postgresql-tuning.sql
-- The private cluster (src/db/postgres-cluster.ts) runs it itself. Safe to run again.

DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_custom_plan', current_database());
END $$;

CREATE OR REPLACE FUNCTION graphql_jwt_auth_id_index(target regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  name text := left((SELECT relname FROM pg_class WHERE oid = target), 50) || '_id_gin';
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_attribute WHERE attrelid = target AND attname = '_jsonb' AND NOT attisdropped
  ) THEN
    EXECUTE format(
      'CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((_jsonb->''_id'') jsonb_path_ops) '
      'WITH (fastupdate = off)',
      name, target
    );
    -- GIN's pending list (fastupdate) is searched entry by entry until a vacuum merges it: after
    -- a burst of inserts every _id lookup slowed with it (4x at 100,000 accounts). Also set on
    -- indexes made by an earlier version of this script.
    EXECUTE format(
      'ALTER INDEX %I.%I SET (fastupdate = off)',
      (SELECT nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
        WHERE c.oid = target),
      name
    );
  END IF;
END $$;

CREATE OR REPLACE FUNCTION graphql_jwt_auth_index_new_tables() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  command record;
BEGIN
  FOR command IN SELECT * FROM pg_event_trigger_ddl_commands()
    WHERE command_tag = 'CREATE TABLE' AND object_type = 'table'
  LOOP
    PERFORM graphql_jwt_auth_id_index(command.objid::regclass);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS graphql_jwt_auth_index_new_tables;
CREATE EVENT TRIGGER graphql_jwt_auth_index_new_tables ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION graphql_jwt_auth_index_new_tables();

-- Tables FerretDB made before this ran.
SELECT graphql_jwt_auth_id_index(c.oid::regclass)
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = '_jsonb'
WHERE c.relkind = 'r';
