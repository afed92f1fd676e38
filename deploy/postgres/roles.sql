-- lienthong's PostgreSQL roles, for a database administrator to run on a server lienthong
-- did not start itself (LIENTHONG_DATABASE_URL), connected to lienthong's database as a
-- superuser (or a managed service's administrator role), before the first migration:
--
--     psql -v ON_ERROR_STOP=1 -d lienthong -f deploy/postgres/roles.sql
--
-- Safe to run again. It makes, without passwords (so nobody can log in as them yet):
--   lienthong_owner      owns the database, its schemas and tables; runs migrations
--                        (LIENTHONG_DATABASE_URL names this role); not a superuser
--   lienthong_router     the router: reads and writes the ledger, never a register
--   lienthong_reporting  reconcile and reports: reads everything
--   lienthong_console    the web console: reads the ledger and registers, keeps accounts
--   lienthong_connector  NOLOGIN group of the connector deployments' login roles
--   lienthong_gateway    NOLOGIN group of the gateways' login roles (`lienthong vxp bridge`)
-- then makes lienthong_owner the database's owner and lets only these roles connect.
-- Grants on the tables and the row-level security policies come with the migrations.
--
-- Next, either give the four login roles passwords yourself (\password lienthong_owner,
-- ...) and write each one's DSN to `<LIENTHONG_STATE_DIR>/database/<role>.dsn` (mode 0600),
-- or let lienthong generate them and write those files, with an administrator's DSN kept
-- in a 0600 file (never on a command line):
--
--     lienthong db roles --admin-dsn-file FILE
--
-- Each connector deployment (one connector installation, hosting some units) gets its own
-- login role, a member of lienthong_connector, and the units it hosts in connector_units:
--
--     lienthong db connector-role NAME --unit ORGANID... --admin-dsn-file FILE
--
-- or by hand (NAME in [a-z0-9_]), then as lienthong_owner in lienthong's schema:
--     CREATE ROLE lienthong_connector_NAME LOGIN IN ROLE lienthong_connector;
--     \password lienthong_connector_NAME
--     INSERT INTO connector_units (unit, role) VALUES ('ORGANID', 'lienthong_connector_NAME');
--
-- Each gateway (a bridge to the national axis or an LGSP; the directory names it) gets a
-- login role of its own, lienthong_gateway_NAME, a member of lienthong_gateway, which sees
-- only its gateway's rows:
--
--     lienthong db gateway-role NAME --admin-dsn-file FILE

DO $$
DECLARE
    wanted record;
    existing pg_roles;
BEGIN
    FOR wanted IN
        SELECT * FROM (VALUES ('lienthong_owner', 'LOGIN'), ('lienthong_router', 'LOGIN'),
                              ('lienthong_reporting', 'LOGIN'),
                              ('lienthong_console', 'LOGIN'),
                              ('lienthong_connector', 'NOLOGIN'),
                              ('lienthong_gateway', 'NOLOGIN')) AS r (name, login)
    LOOP
        SELECT * INTO existing FROM pg_roles WHERE rolname = wanted.name;
        IF NOT FOUND THEN
            EXECUTE format('CREATE ROLE %I %s NOSUPERUSER NOCREATEDB NOCREATEROLE'
                           ' NOREPLICATION NOBYPASSRLS INHERIT', wanted.name, wanted.login);
        ELSIF existing.rolsuper OR existing.rolcreaterole OR existing.rolcreatedb
              OR existing.rolreplication OR existing.rolbypassrls THEN
            RAISE EXCEPTION 'role % exists with more power than it may have', wanted.name
                USING HINT = format('ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE'
                                    ' NOREPLICATION NOBYPASSRLS', wanted.name);
        END IF;
    END LOOP;
    EXECUTE format('ALTER DATABASE %I OWNER TO lienthong_owner', current_database());
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO lienthong_router, lienthong_reporting,'
                   ' lienthong_console, lienthong_connector, lienthong_gateway',
                   current_database());
END $$;

-- PostgreSQL 15 already denies it; older servers let anyone create tables in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
