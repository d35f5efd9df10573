// Slugs no user may take under a service domain: protocol words, service names and the usual impersonation targets.
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  // protocol and service
  'at', 'atp', 'plc', 'pds', 'did', 'repo', 'tid', 'nsid', 'xrpc', 'lex', 'lexicon', 'bsky', 'bluesky', 'handle',
  'atproto', 'relay', 'firehose', 'appview', 'feed', 'feeds', 'labeler', 'ozone', 'aurora', 'locus',
  // operators and impersonation
  'admin', 'administrator', 'root', 'sysadmin', 'system', 'operator', 'owner', 'staff', 'team', 'official',
  'moderator', 'moderation', 'mod', 'mods', 'support', 'help', 'helpdesk', 'security', 'abuse', 'trust', 'safety',
  'legal', 'privacy', 'terms', 'tos', 'policy', 'copyright', 'dmca', 'compliance', 'billing', 'payments', 'account',
  'accounts', 'contact', 'info', 'noreply', 'no-reply', 'postmaster', 'hostmaster', 'webmaster', 'mailer-daemon',
  // infrastructure names
  'www', 'web', 'api', 'app', 'apps', 'mail', 'email', 'smtp', 'imap', 'pop', 'ftp', 'ssh', 'dns', 'ns1', 'ns2',
  'cdn', 'static', 'assets', 'media', 'img', 'images', 'blob', 'blobs', 'status', 'health', 'metrics', 'dev',
  'staging', 'test', 'testing', 'beta', 'alpha', 'demo', 'localhost', 'local', 'internal', 'invalid', 'example',
  'auth', 'oauth', 'login', 'logout', 'signin', 'signup', 'register', 'session', 'sessions', 'well-known',
  'null', 'undefined', 'anonymous', 'everyone', 'nobody', 'self', 'me',
])
