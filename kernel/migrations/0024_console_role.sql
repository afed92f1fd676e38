-- The console's own role (issue 13), instead of lienthong_owner: a flaw in a page then gives
-- an attacker what the console may do, never DDL, a register write or a password hash of
-- reporting's. It reads the ledger and the registers (every unit's: the pages confine each
-- viewer to the units it may see), keeps the accounts, their passwords, events and sessions,
-- and writes only the review decisions and replays the operators make there (held, messages,
-- dead_letters, audit), as `lienthong review` and `lienthong replay` do.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lienthong_console') THEN
        RAISE EXCEPTION 'the role lienthong_console does not exist'
            USING HINT = 'a database administrator runs deploy/postgres/roles.sql first '
                         '(lienthong dev up and lienthong db roles do)';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO lienthong_console', current_schema());
END $$;

GRANT SELECT ON units, messages, deliveries, delivery_events, dead_letters, held,
    policy_decisions, malware_scans, audit, incoming_register, outgoing_register,
    outgoing_status, incoming_attachments TO lienthong_console;
GRANT UPDATE ON messages, held, dead_letters TO lienthong_console;
GRANT INSERT ON audit TO lienthong_console;
GRANT SELECT, INSERT, UPDATE ON accounts, account_passwords TO lienthong_console;
GRANT SELECT, INSERT ON account_events TO lienthong_console;
GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions TO lienthong_console;

CREATE POLICY console_reads_all ON incoming_register FOR SELECT TO lienthong_console
    USING (true);
CREATE POLICY console_reads_all ON outgoing_register FOR SELECT TO lienthong_console
    USING (true);
CREATE POLICY console_reads_all ON outgoing_status FOR SELECT TO lienthong_console
    USING (true);
CREATE POLICY console_reads_all ON incoming_attachments FOR SELECT TO lienthong_console
    USING (true);
CREATE POLICY console_keeps ON account_passwords TO lienthong_console USING (true);
CREATE POLICY console_keeps ON console_sessions TO lienthong_console USING (true);
