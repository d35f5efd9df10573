-- Accounts, their sessions, app passwords and invite codes.
CREATE TABLE account (
  did TEXT PRIMARY KEY,
  handle TEXT NOT NULL UNIQUE,              -- lower-case
  email TEXT NOT NULL UNIQUE,               -- lower-case
  password_scrypt TEXT NOT NULL,            -- "salt:hash", hex
  signing_key_hex TEXT NOT NULL,            -- secp256k1 repo signing key
  created_at TEXT NOT NULL,
  email_confirmed_at TEXT,
  deactivated_at TEXT,
  takedown_ref TEXT
) STRICT;

CREATE TABLE app_password (
  did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
  name TEXT NOT NULL,
  password_scrypt TEXT NOT NULL,
  privileged INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  PRIMARY KEY (did, name)
) STRICT;

-- One row per login. Tokens name the session (`sid`), so deleting the row revokes the access token too; the refresh
-- token is single-use: `refresh_jti` moves on every refresh.
CREATE TABLE session (
  id TEXT PRIMARY KEY,
  did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
  app_password_name TEXT,
  refresh_jti TEXT NOT NULL UNIQUE,
  refresh_expires_at INTEGER NOT NULL,      -- epoch seconds
  created_at TEXT NOT NULL,
  FOREIGN KEY (did, app_password_name) REFERENCES app_password(did, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX session_did_idx ON session(did);

CREATE TABLE invite_code (
  code TEXT PRIMARY KEY,
  available_uses INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  for_account TEXT NOT NULL,                -- 'admin' when created by the operator for nobody in particular
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;

CREATE TABLE invite_code_use (
  code TEXT NOT NULL REFERENCES invite_code(code),
  used_by TEXT NOT NULL,
  used_at TEXT NOT NULL,
  PRIMARY KEY (code, used_by)
) STRICT;
