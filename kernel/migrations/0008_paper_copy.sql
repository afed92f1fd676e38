-- Article 5.3: deliveries that must also go on paper, as the router decided and as the
-- receiver sees them.
ALTER TABLE deliveries ADD COLUMN paper_copy_required boolean NOT NULL DEFAULT false;
ALTER TABLE incoming_register ADD COLUMN paper_copy_required boolean NOT NULL DEFAULT false;
ALTER TABLE policy_decisions DROP CONSTRAINT policy_decisions_action_check;
ALTER TABLE policy_decisions ADD CONSTRAINT policy_decisions_action_check
    CHECK (action IN ('paper', 'flag', 'hold', 'reject'));
