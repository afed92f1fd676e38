-- Least privilege. The roles are cluster-wide and made beforehand by deploy/postgres/roles.sql
-- (`lienthong dev up` runs it): lienthong_owner owns and migrates; lienthong_router keeps the
-- ledger and never sees a register; every connector deployment logs in as a role of its own,
-- a member of lienthong_connector, which holds the register privileges; lienthong_reporting
-- reads everything. Registers are confined by row-level security to the units a deployment
-- hosts (connector_units), not by a schema per deployment, so the Department's console and
-- `reconcile` read every unit's register with one role in one query. Nobody may DELETE.
-- Every table must appear in the scheme of tests/integration/test_database_roles.py.

DO $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(needed, ', ') INTO missing
    FROM unnest(ARRAY['lienthong_owner', 'lienthong_router', 'lienthong_reporting',
                      'lienthong_connector']) AS needed
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = needed);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'the roles % do not exist', missing
            USING HINT = 'a database administrator runs deploy/postgres/roles.sql first '
                         '(lienthong dev up and lienthong db roles do)';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO lienthong_router, lienthong_reporting,'
                   ' lienthong_connector', current_schema());
END $$;

-- Which units each connector deployment's login role hosts; a unit has one deployment.
CREATE TABLE connector_units (
    unit  text PRIMARY KEY,
    role  name NOT NULL CHECK (starts_with(role::text, 'lienthong_connector_'))
);

-- The ledger: the router's alone to write.
GRANT SELECT ON units TO lienthong_router;
GRANT SELECT, INSERT ON audit, delivery_events, policy_decisions, malware_scans
    TO lienthong_router;
GRANT SELECT, INSERT, UPDATE ON messages, deliveries, dead_letters, held TO lienthong_router;

-- The registers: the connector deployments', each to its own units' rows.
GRANT SELECT, INSERT, UPDATE ON register_counters, incoming_register, outbox, api_credentials
    TO lienthong_connector;
GRANT SELECT, INSERT ON outgoing_register, incoming_attachments, outgoing_status,
    incoming_quarantine TO lienthong_connector;
GRANT USAGE ON SEQUENCE incoming_quarantine_id_seq TO lienthong_connector;
GRANT SELECT ON connector_units TO lienthong_connector;

DO $$
DECLARE
    register text;
BEGIN
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO lienthong_reporting',
                   current_schema());
    FOREACH register IN ARRAY ARRAY['register_counters', 'outgoing_register',
        'incoming_register', 'incoming_attachments', 'outgoing_status', 'outbox',
        'api_credentials', 'incoming_quarantine', 'connector_units']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', register);
        EXECUTE format('CREATE POLICY reporting_reads_all ON %I FOR SELECT'
                       ' TO lienthong_reporting USING (true)', register);
    END LOOP;
    FOREACH register IN ARRAY ARRAY['register_counters', 'outgoing_register',
        'incoming_register', 'incoming_attachments', 'outbox', 'incoming_quarantine']
    LOOP
        EXECUTE format('CREATE POLICY own_units ON %I TO lienthong_connector USING'
                       ' (unit IN (SELECT unit FROM connector_units WHERE role = current_user))',
                       register);
    END LOOP;
END $$;

CREATE POLICY own_units ON connector_units FOR SELECT TO lienthong_connector
    USING (role = current_user);

-- A credential is the deployment's when every unit it names is.
CREATE POLICY own_units ON api_credentials TO lienthong_connector
    USING (units <@ ARRAY(SELECT unit FROM connector_units WHERE role = current_user));

-- What came back about a message belongs to whoever sent it: a document (its outgoing
-- register entry) or anything else it published (its outbox row, e.g. a status refused).
CREATE POLICY own_units ON outgoing_status TO lienthong_connector
    USING (
        EXISTS (SELECT FROM outgoing_register AS sent
                WHERE sent.message_id = outgoing_status.message_id
                  AND sent.unit IN (SELECT unit FROM connector_units WHERE role = current_user))
        OR EXISTS (SELECT FROM outbox AS sent
                   WHERE sent.message_id = outgoing_status.message_id
                     AND sent.unit IN (SELECT unit FROM connector_units
                                       WHERE role = current_user))
    );
