-- The operator's account administration (com.atproto.admin.*): an account may be barred from receiving new invite
-- codes (the reference's account.invitesDisabled), and invite codes are looked up by owner and by user (getAccountInfo's
-- `invites` and `invitedBy`) without scanning the tables.
ALTER TABLE account ADD COLUMN invites_disabled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX invite_code_for_account_idx ON invite_code(for_account);
CREATE INDEX invite_code_use_used_by_idx ON invite_code_use(used_by);
