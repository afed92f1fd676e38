-- The connectors' registers (Decree 30/2020): outgoing numbers and incoming numbers (số đến)
-- run from 1 each calendar year per unit, gap-free: the counter row is locked, bumped and
-- used in the same transaction as the entry, so a rollback leaves no hole.
CREATE TABLE register_counters (
    unit      text NOT NULL,
    year      integer NOT NULL,
    register  text NOT NULL CHECK (register IN ('in', 'out')),
    last      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (unit, year, register)
);

CREATE TABLE outgoing_register (
    unit         text NOT NULL,
    year         integer NOT NULL,
    number       integer NOT NULL,
    message_id   text NOT NULL UNIQUE,
    document_id  text,
    kind         text NOT NULL,
    subject      text,
    recipients   text[] NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (unit, year, number)
);

CREATE TABLE incoming_register (
    unit         text NOT NULL,
    year         integer NOT NULL,
    number       integer NOT NULL,
    message_id   text NOT NULL,
    kind         text NOT NULL,
    sender       text NOT NULL,
    document_id  text,
    subject      text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz NOT NULL,
    status       text NOT NULL DEFAULT '01',
    redirected_from text,
    edxml        bytea NOT NULL,
    PRIMARY KEY (unit, year, number),
    UNIQUE (unit, message_id)
);

-- What a sender's connector has heard back about what it sent.
CREATE TABLE outgoing_status (
    message_id        text NOT NULL,
    recipient         text NOT NULL,
    status_code       text NOT NULL,
    reason_code       text,
    description       text,
    at                timestamptz NOT NULL,
    status_message_id text NOT NULL UNIQUE,
    PRIMARY KEY (message_id, recipient, status_code)
);

-- Envelopes a connector has committed to send, written in the same transaction as the
-- register entry they belong to, and published (then marked) afterwards: nothing numbered
-- is ever left unsent, whatever crashes in between.
CREATE TABLE outbox (
    message_id  text PRIMARY KEY,
    unit        text NOT NULL,
    topic       text NOT NULL,
    key         bytea NOT NULL,
    value       bytea NOT NULL,
    headers     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (created_at) WHERE sent_at IS NULL;
