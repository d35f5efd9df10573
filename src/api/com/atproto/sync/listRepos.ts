import { isValidDid } from '@atproto/syntax'
import { z } from 'zod'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { queryInt } from '../../../../xrpc/schemas.ts'
import { assertCrawlEnabled } from './util.ts'

/** Every hosted repo, oldest account first. The cursor is the reference's `<createdAt ms>::<did>`. */
export default defineMethod({
  params: z.object({ limit: queryInt(1, 1000).default(500), cursor: z.string().optional() }),
  handler: ({ ctx, params }) => {
    assertCrawlEnabled(ctx)
    const after = params.cursor === undefined ? null : parseCursor(params.cursor)
    const rows = ctx.accountStatus.listRepos(after, params.limit)
    const last = rows.at(-1)
    return {
      cursor: last && rows.length === params.limit ? `${Date.parse(last.created_at)}::${last.did}` : undefined,
      repos: rows.map((r) => ({ did: r.did, head: r.head, rev: r.rev, active: r.active, status: r.status })),
    }
  },
})

const MAX_ISO_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

function parseCursor(cursor: string): { createdAt: string; did: string } {
  const sep = cursor.indexOf('::')
  const ms = cursor.slice(0, sep)
  const did = cursor.slice(sep + 2)
  // Past year 9999 ISO strings change shape and would no longer sort with stored times.
  if (sep < 0 || !/^\d{1,15}$/.test(ms) || Number(ms) > MAX_ISO_MS || !isValidDid(did)) {
    throw new InvalidRequestError('Malformed cursor')
  }
  return { createdAt: new Date(Number(ms)).toISOString(), did }
}

