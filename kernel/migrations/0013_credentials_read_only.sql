-- A connector reads its deployment's API credentials and notes when one was used; it never
-- creates, re-keys or un-revokes one. Those are the operator's (`connector credentials`,
-- as the owner, audited): a compromised connector host must not undo a revocation.
REVOKE INSERT, UPDATE ON api_credentials FROM lienthong_connector;
GRANT UPDATE (last_used_at) ON api_credentials TO lienthong_connector;
