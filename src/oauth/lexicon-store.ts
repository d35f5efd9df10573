// Permission-set lexicons the provider resolved for `include:` scopes, over SQLite (the reference's
// account-manager/helpers/lexicon.js), failed lookups included so they are not retried on every request.
import { LEXICON_REFRESH_FREQUENCY } from '@atproto/oauth-provider/constants'
import type { LexiconData, LexiconStore } from '@atproto/oauth-provider/store'
import type { Db } from '../db/index.ts'

type Row = {
  created_at: number
  updated_at: number
  last_succeeded_at: number | null
  uri: string | null
  lexicon: string | null
}

export class SqliteLexiconStore implements LexiconStore {
  private readonly stmts

  constructor(db: Db) {
    this.stmts = {
      get: db.prepare('SELECT * FROM oauth_lexicon WHERE nsid = ?'),
      upsert: db.prepare(
        `INSERT INTO oauth_lexicon (nsid, created_at, updated_at, last_succeeded_at, uri, lexicon)
         VALUES (@nsid, @created_at, @updated_at, @last_succeeded_at, @uri, @lexicon)
         ON CONFLICT (nsid) DO UPDATE SET created_at = excluded.created_at, updated_at = excluded.updated_at,
           last_succeeded_at = excluded.last_succeeded_at, uri = excluded.uri, lexicon = excluded.lexicon`,
      ),
      // Failures nobody asked about again for a refresh period: the reference's garbage collection.
      pruneFailures: db.prepare('DELETE FROM oauth_lexicon WHERE lexicon IS NULL AND updated_at < ?'),
      delete: db.prepare('DELETE FROM oauth_lexicon WHERE nsid = ?'),
    }
  }

  findLexicon(nsid: string): LexiconData | null {
    const row = this.stmts.get.get(nsid) as Row | undefined
    if (!row) return null
    return {
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
      lastSucceededAt: row.last_succeeded_at === null ? null : new Date(row.last_succeeded_at),
      uri: row.uri,
      lexicon: row.lexicon === null ? null : JSON.parse(row.lexicon),
    }
  }

  storeLexicon(nsid: string, data: LexiconData): void {
    this.stmts.upsert.run({
      nsid,
      created_at: data.createdAt.getTime(),
      updated_at: data.updatedAt.getTime(),
      last_succeeded_at: data.lastSucceededAt?.getTime() ?? null,
      uri: data.uri,
      lexicon: data.lexicon ? JSON.stringify(data.lexicon) : null,
    })
    this.stmts.pruneFailures.run(Date.now() - LEXICON_REFRESH_FREQUENCY)
  }

  deleteLexicon(nsid: string): void {
    this.stmts.delete.run(nsid)
  }
}
