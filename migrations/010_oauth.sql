-- The stores behind @atproto/oauth-provider (src/oauth/), after the reference PDS's account-manager migrations
-- 004-007: authorization requests, browser devices and the accounts signed in on them, the clients each account
-- authorized, OAuth tokens with their spent refresh tokens, cached permission-set lexicons, and used DPoP proof ids
-- and nonces. Times are epoch ms. Rows of an account go with it (ON DELETE CASCADE).

-- A pushed authorization request (PAR) until its code is exchanged, kept a while past expiry so the provider can say
-- "expired" rather than "unknown".
CREATE TABLE oauth_authorization_request (
  id TEXT PRIMARY KEY,
  did TEXT,
  device_id TEXT,
  client_id TEXT NOT NULL,
  client_auth TEXT,                         -- JSON
  parameters TEXT NOT NULL,                 -- JSON
  expires_at INTEGER NOT NULL,
  code TEXT
) STRICT;
CREATE UNIQUE INDEX oauth_authorization_request_code_idx ON oauth_authorization_request (code) WHERE code IS NOT NULL;
CREATE INDEX oauth_authorization_request_expires_idx ON oauth_authorization_request (expires_at);

-- A browser that signed in (its cookie names `id` and `session_id`).
CREATE TABLE oauth_device (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL UNIQUE,
  user_agent TEXT,
  ip_address TEXT NOT NULL,
  last_seen_at INTEGER NOT NULL
) STRICT;

-- Which accounts are signed in on which device (the account chooser of the sign-in page).
CREATE TABLE oauth_account_device (
  device_id TEXT NOT NULL REFERENCES oauth_device(id) ON DELETE CASCADE,
  did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (device_id, did)
) STRICT;
CREATE INDEX oauth_account_device_did_idx ON oauth_account_device (did);

-- The clients an account consented to, with the scopes it granted (so the consent page is not shown again).
CREATE TABLE oauth_authorized_client (
  did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  data TEXT NOT NULL,                       -- JSON { authorizedScopes }
  PRIMARY KEY (did, client_id)
) STRICT;

-- One row per OAuth session. `token_id` (the access token's jti) and `current_refresh_token` move on every refresh;
-- `id` stays, so spent refresh tokens (below) keep naming the session.
CREATE TABLE oauth_token (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
  token_id TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,              -- of the current access token
  client_id TEXT NOT NULL,
  client_auth TEXT NOT NULL,                -- JSON
  device_id TEXT,
  parameters TEXT NOT NULL,                 -- JSON
  details TEXT,                             -- JSON
  code TEXT,
  current_refresh_token TEXT UNIQUE,
  scope TEXT
) STRICT;
CREATE INDEX oauth_token_did_idx ON oauth_token (did);
CREATE UNIQUE INDEX oauth_token_code_idx ON oauth_token (code) WHERE code IS NOT NULL;

-- Refresh tokens already exchanged: presenting one again is a replay, and the provider revokes the whole session.
CREATE TABLE oauth_used_refresh_token (
  refresh_token TEXT PRIMARY KEY,
  token_id INTEGER NOT NULL REFERENCES oauth_token(id) ON DELETE CASCADE
) STRICT;
CREATE INDEX oauth_used_refresh_token_token_idx ON oauth_used_refresh_token (token_id);

-- Permission-set lexicons the provider resolved (scopes such as include:com.example.authFull), and failed lookups.
CREATE TABLE oauth_lexicon (
  nsid TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_succeeded_at INTEGER,
  uri TEXT,
  lexicon TEXT                              -- JSON; NULL: never resolved
) STRICT;
CREATE INDEX oauth_lexicon_failures_idx ON oauth_lexicon (updated_at) WHERE lexicon IS NULL;

-- DPoP proof ids (jti), client assertion ids and similar one-time values, per namespace, until they could no longer be
-- accepted anyway.
CREATE TABLE oauth_replay (
  namespace TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, nonce)
) STRICT, WITHOUT ROWID;
CREATE INDEX oauth_replay_expires_idx ON oauth_replay (expires_at);
