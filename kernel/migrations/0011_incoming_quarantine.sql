-- Records a connector found on its unit topic and refused to register (no router
-- endorsement, not addressed to the unit, a signature that does not verify): kept whole for
-- the operator, never entered in a register.
CREATE TABLE incoming_quarantine (
    id           bigserial PRIMARY KEY,
    unit         text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    message_id   text,
    reason_code  text NOT NULL,
    reason       text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (unit, topic, partition, "offset")
);
CREATE INDEX incoming_quarantine_unit_idx ON incoming_quarantine (unit, received_at);
