-- The router's ledger: what arrived, what was decided, where each copy went and what became
-- of it. Writes are idempotent (unique keys + ON CONFLICT) so replays and restarts never
-- double count.
CREATE TABLE messages (
    message_id   text PRIMARY KEY,
    kind         text NOT NULL,
    sender       text NOT NULL,
    document_id  text,
    size         integer NOT NULL,
    created_at   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    verdict      text NOT NULL CHECK (verdict IN ('routed', 'rejected')),
    reason_code  text,
    reason       text,
    responds_to  text,
    source       text NOT NULL
);
CREATE INDEX messages_sender_idx ON messages (sender, received_at);

CREATE TABLE deliveries (
    message_id   text NOT NULL REFERENCES messages (message_id),
    recipient    text NOT NULL,
    delivered_to text,
    state        text NOT NULL,
    reason_code  text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, recipient)
);
CREATE INDEX deliveries_delivered_to_idx ON deliveries (delivered_to, state);

-- The timeline of each delivery: routed, redirected, 01 arrived, 03 accepted, ... 06 done, or 02.
CREATE TABLE delivery_events (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id         text NOT NULL,
    recipient          text NOT NULL,
    state              text NOT NULL,
    at                 timestamptz NOT NULL DEFAULT now(),
    reason_code        text,
    detail             text,
    status_message_id  text,
    UNIQUE (message_id, recipient, state)
);

CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    key          bytea,
    headers      jsonb NOT NULL DEFAULT '[]'::jsonb,
    original     bytea NOT NULL,
    stage        text NOT NULL,
    reason_code  text NOT NULL,
    reason       text NOT NULL,
    sender       text,
    message_id   text,
    replay_count integer NOT NULL DEFAULT 0,
    replayed_at  timestamptz,
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason_code, received_at);
