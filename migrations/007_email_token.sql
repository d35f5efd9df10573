-- Codes mailed to an account's owner to prove they read its mailbox (src/account/email-tokens.ts), as the reference
-- PDS's email_token: one live code per account and purpose (a new request replaces the old one), valid 15 minutes,
-- deleted when used. Only a SHA-256 of each code is stored, so the table alone lets nobody spend one. Rows go with
-- their account.
CREATE TABLE email_token (
  did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
  -- plc_operation is the reference's fifth purpose (PLC operation signing, not served yet): allowed now because
  -- SQLite cannot change a CHECK without rebuilding the table.
  purpose TEXT NOT NULL
    CHECK (purpose IN ('confirm_email', 'update_email', 'reset_password', 'delete_account', 'plc_operation')),
  token_sha256 BLOB NOT NULL,               -- SHA-256 of the upper-case code, e.g. of "ABCDE-FGHIJ"
  requested_at INTEGER NOT NULL,            -- epoch ms; the code expires 15 minutes later
  PRIMARY KEY (did, purpose)
) STRICT;
-- resetPassword names no account: its code is found by purpose and digest.
CREATE INDEX email_token_digest_idx ON email_token (purpose, token_sha256);
