-- The console's user accounts (issue 13; Decision 37/2018/QĐ-UBND of Bến Tre, Articles 6, 7
-- and 9.2; the rules are console/accounts.py). The console works as lienthong_owner, which
-- owns these tables: no new role, since making one means changing deploy/postgres/roles.sql.
-- The router and the connectors get nothing here. The reporting role reads every table (the
-- scheme of tests/integration/test_database_roles.py): accounts and their events serve usage
-- statistics (Article 11), but a password hash is nobody's to read, so account_passwords has
-- row-level security and a reporting policy that shows no row (the owner is not subject to it).

CREATE TABLE accounts (
    username              text PRIMARY KEY
        CHECK (username ~ '^[a-z]{2,40}([2-9]|[1-9][0-9]{1,3})?\.[a-z0-9]{2,20}$'),
    full_name             text NOT NULL CHECK (full_name <> ''),
    unit                  text NOT NULL REFERENCES units (organ_id),
    unit_abbreviation     text NOT NULL CHECK (unit_abbreviation ~ '^[a-z0-9]{2,20}$'),
    role                  text NOT NULL CHECK (role IN ('provincial_admin', 'department_monitor',
                                                        'unit_admin', 'clerk', 'officer')),
    issued_at             timestamptz NOT NULL,
    issued_by             text NOT NULL,
    last_login_at         timestamptz,
    must_change_password  boolean NOT NULL DEFAULT true,
    failed_logins         integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_at             timestamptz,
    lock_reason           text CHECK (lock_reason IN ('never_used', 'idle', 'failed_logins',
                                                      'manual')),
    unlocked_at           timestamptz,
    CHECK ((locked_at IS NULL) = (lock_reason IS NULL)),
    CHECK (split_part(username, '.', 2) = unit_abbreviation)
);
CREATE INDEX accounts_unit_idx ON accounts (unit);
-- The locking job reads only the unlocked accounts.
CREATE INDEX accounts_unlocked_idx ON accounts (username) WHERE locked_at IS NULL;

-- argon2id hashes, apart from what reporting may read.
CREATE TABLE account_passwords (
    username    text PRIMARY KEY REFERENCES accounts (username),
    hash        text NOT NULL CHECK (starts_with(hash, '$argon2id$')),
    changed_at  timestamptz NOT NULL
);

-- Every administrative act and every login on an account: who, what, why, when.
CREATE TABLE account_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    username  text NOT NULL REFERENCES accounts (username),
    actor     text NOT NULL,
    event     text NOT NULL CHECK (event IN ('create', 'login', 'login_failed', 'lock', 'unlock',
                                             'password_change', 'password_reset')),
    reason    text,
    detail    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX account_events_username_idx ON account_events (username, at);

GRANT SELECT ON accounts, account_events, account_passwords TO lienthong_reporting;
ALTER TABLE account_passwords ENABLE ROW LEVEL SECURITY;
CREATE POLICY reporting_reads_none ON account_passwords FOR SELECT TO lienthong_reporting
    USING (false);
