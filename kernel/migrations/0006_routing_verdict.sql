-- A document's deliveries are written before it is produced ('routing'), so a receipt that
-- overtakes the router's own bookkeeping always finds its delivery; 'routed' follows once
-- every copy is on its unit topic. A router restarted in between routes it again.
ALTER TABLE messages DROP CONSTRAINT messages_verdict_check;
ALTER TABLE messages ADD CONSTRAINT messages_verdict_check
    CHECK (verdict IN ('routing', 'routed', 'rejected'));
