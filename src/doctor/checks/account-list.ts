// The accounts to check: read-only from the SQLite file when the doctor runs on the PDS machine (with signing keys
// and the latest seq), else from the public listRepos (DIDs and revs only).
import Database from 'better-sqlite3'
import type { Config } from '../../config/index.ts'
import { fetchText } from '../../util/net.ts'

export type LocalAccount = { did: string; handle: string; signingKeyHex?: string; active: boolean; rev?: string }
export type Local = { accounts: LocalAccount[]; latestSeq: number | null; source: 'database' | 'listRepos'; total: number }

export async function loadLocal(cfg: Config, doFetch: typeof fetch, timeoutMs: number): Promise<Local | { error: string }> {
  let db: Database.Database | undefined
  try {
    db = new Database(cfg.dbPath, { readonly: true, fileMustExist: true })
    const rows = db
      .prepare(
        `SELECT a.did, a.handle, a.signing_key_hex, a.deactivated_at, a.takedown_ref, r.rev
           FROM account a LEFT JOIN repo_root r ON r.did = a.did ORDER BY a.created_at, a.did`,
      )
      .all() as {
      did: string
      handle: string
      signing_key_hex: string
      deactivated_at: string | null
      takedown_ref: string | null
      rev: string | null
    }[]
    const latestSeq = db.prepare('SELECT max(seq) FROM repo_seq').pluck().get() as number | null
    return {
      source: 'database',
      total: rows.length,
      latestSeq,
      accounts: rows.map((r) => ({
        did: r.did,
        handle: r.handle,
        signingKeyHex: r.signing_key_hex,
        active: !r.deactivated_at && !r.takedown_ref,
        ...(r.rev ? { rev: r.rev } : {}),
      })),
    }
  } catch (dbErr) {
    // Not on the server's machine (or no access): fall back to what the PDS publishes.
    const fromHttp = await listReposOverHttp(cfg, doFetch, timeoutMs)
    if ('error' in fromHttp) {
      return { error: `database ${cfg.dbPath}: ${(dbErr as Error).message}; listRepos: ${fromHttp.error}` }
    }
    return fromHttp
  } finally {
    db?.close()
  }
}

async function listReposOverHttp(cfg: Config, doFetch: typeof fetch, timeoutMs: number): Promise<Local | { error: string }> {
  const accounts: LocalAccount[] = []
  let cursor: string | undefined
  for (let page = 0; page < 20; page++) {
    const url = new URL('/xrpc/com.atproto.sync.listRepos', cfg.publicUrl)
    url.searchParams.set('limit', '1000')
    if (cursor) url.searchParams.set('cursor', cursor)
    const res = await fetchText(doFetch, url, timeoutMs)
    if (!res.ok) return { error: res.error }
    const body = JSON.parse(res.text) as { repos: { did: string; rev?: string; active?: boolean }[]; cursor?: string }
    for (const r of body.repos) accounts.push({ did: r.did, handle: '', active: r.active !== false, ...(r.rev ? { rev: r.rev } : {}) })
    cursor = body.cursor
    if (!cursor) break
  }
  return { source: 'listRepos', total: accounts.length, latestSeq: null, accounts }
}
