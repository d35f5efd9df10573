-- Refresh tokens already spent: each stays usable for a grace period (2 h, capped at its own expiry) so that a client
-- retrying a refresh whose answer it lost still gets a session. Reuse re-issues the token that replaced it
-- (`next_jti`, with its expiry), so racing retries converge on one token. Rows go with their session.
CREATE TABLE used_refresh_token (
  jti TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
  next_jti TEXT NOT NULL,
  next_expires_at INTEGER NOT NULL,         -- epoch seconds: the replacing token's expiry
  grace_expires_at INTEGER NOT NULL         -- epoch seconds: min(spent at + 2 h, this token's expiry)
) STRICT;
CREATE INDEX used_refresh_token_session_idx ON used_refresh_token(session_id);
