-- The console's sessions (issue 13), kept on the server so that a lock, a logout or a
-- password change ends them at once: the cookie holds a random token, this table only its
-- SHA-256, so a read of the table gives nobody a session. `csrf` is the synchronizer token
-- every form of the session carries back (console/sessions.py).
CREATE TABLE console_sessions (
    token_sha256  bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
    username      text NOT NULL REFERENCES accounts (username),
    csrf          text NOT NULL CHECK (length(csrf) >= 32),
    created_at    timestamptz NOT NULL,
    seen_at       timestamptz NOT NULL,
    client        text NOT NULL DEFAULT ''
);
CREATE INDEX console_sessions_username_idx ON console_sessions (username);

-- What the console's pages do besides account changes (a review decision, a replay, an
-- export), next to account_events: who, what, on which unit or document, when.
ALTER TABLE account_events DROP CONSTRAINT account_events_event_check;
ALTER TABLE account_events ADD CONSTRAINT account_events_event_check
    CHECK (event IN ('create', 'login', 'login_failed', 'lock', 'unlock', 'password_change',
                     'password_reset', 'logout', 'release', 'reject', 'replay', 'export'));

GRANT SELECT ON console_sessions TO lienthong_reporting;
ALTER TABLE console_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY reporting_reads_none ON console_sessions FOR SELECT TO lienthong_reporting
    USING (false);
