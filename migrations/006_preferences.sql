-- Each account's private app.bsky preferences (app.bsky.actor.getPreferences/putPreferences): the whole list is
-- replaced on put, and `id` keeps its order. Not in the repo, so no firehose event; rows go with their account.
CREATE TABLE preference (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
  name TEXT NOT NULL,                       -- the preference's $type
  value_json TEXT NOT NULL                  -- the whole preference object, $type included
) STRICT;
CREATE INDEX preference_did_idx ON preference(did, id);
