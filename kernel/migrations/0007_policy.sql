-- The content policy's decisions, and documents held for an operator's review.
ALTER TABLE messages DROP CONSTRAINT messages_verdict_check;
ALTER TABLE messages ADD CONSTRAINT messages_verdict_check
    CHECK (verdict IN ('routing', 'routed', 'rejected', 'held'));

CREATE TABLE policy_decisions (
    message_id   text NOT NULL,
    rule_id      text NOT NULL,
    article      text NOT NULL,
    reason_code  text NOT NULL,
    action       text NOT NULL CHECK (action IN ('flag', 'hold', 'reject')),
    field        text NOT NULL,
    matched      text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, rule_id, field, matched)
);

CREATE TABLE held (
    message_id   text PRIMARY KEY,
    sender       text NOT NULL,
    held_at      timestamptz NOT NULL DEFAULT now(),
    key          bytea,
    headers      jsonb NOT NULL,
    original     bytea NOT NULL,
    state        text NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'released', 'rejected')),
    reviewed_by  text,
    reviewed_at  timestamptz,
    why          text
);
CREATE INDEX held_state_idx ON held (state, held_at);
