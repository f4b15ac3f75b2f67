#!/bin/sh
# First start of the database volume: the schema owner (runs `voicegate migrate`) and the runtime
# role `serve` connects as. The runtime role's table rights are granted by the migration itself
# (database.runtime_role), never here, so they stay exactly what src/storage/db.rs grants.
set -eu
owner_pw=$(cat /run/voicegate/pg/owner-password)
runtime_pw=$(cat /run/voicegate/pg/runtime-password)
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
  -v owner_pw="$owner_pw" -v runtime_pw="$runtime_pw" <<'SQL'
CREATE ROLE voicegate_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE voicegate_runtime LOGIN PASSWORD :'runtime_pw';
CREATE DATABASE voicegate OWNER voicegate_owner;
REVOKE ALL ON DATABASE voicegate FROM PUBLIC;
GRANT CONNECT ON DATABASE voicegate TO voicegate_runtime;
\connect voicegate
ALTER SCHEMA public OWNER TO voicegate_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
