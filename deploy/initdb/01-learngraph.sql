-- Runs once, as the superuser, when the PostgreSQL container initialises its data directory.
-- pg_stat_statements is not a trusted extension: only a superuser can create it.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
-- A server-side statement deadline on the application role: through PgBouncer in transaction
-- mode a session-level SET cannot be used. The service also enforces DB_STATEMENT_TIMEOUT itself.
ALTER ROLE CURRENT_USER SET statement_timeout = '10s';
-- The admin `ops` query reads pg_stat_statements and pg_stat_activity for every session, and
-- pg_settings' sources: grant the monitoring roles (a superuser has them already).
GRANT pg_read_all_stats TO CURRENT_USER;
GRANT pg_read_all_settings TO CURRENT_USER;
