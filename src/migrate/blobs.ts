// Step 3: the blobs (images, videos) the imported records reference. The new PDS says which it lacks
// (listMissingBlobs, paged); each is fetched from the old (sync.getBlob) and uploaded (uploadBlob), a few at a time.
// Nothing is remembered between runs: every run asks again, so a rerun fetches exactly what is still missing.
//
// Pages are walked to the end and then the list is asked for again from the start, until it is empty or a pass
// moves nothing: a PDS whose cursor is an offset would otherwise skip blobs that moved up as earlier ones arrived.
import { mapLimit } from '../util/map-limit.ts'
import { ask, MigrateError } from './errors.ts'
import { accountStatus, type Migration } from './context.ts'

const PAGE = 500
/** Blobs in flight at once: enough to hide latency, few enough not to trip upload rate limits. */
const CONCURRENCY = 4

/** Figures kept in the state file: blobs copied this run, their bytes, and blobs that could not be copied. */
export type BlobFigures = { copied: number; bytes: number; failed: number }

export async function copyBlobs(m: Migration): Promise<BlobFigures> {
  const status = await accountStatus(m.new)
  const expectedMissing = Math.max(status.expectedBlobs - status.importedBlobs, 0)
  const meter = m.out.meter('blobs', expectedMissing)
  // cid → why it could not be copied (a refusal of that one blob; anything worse aborts the step)
  const failed = new Map<string, string>()
  // Never twice in one run, even if a PDS went on listing a blob it was given.
  const copied = new Set<string>()

  for (;;) {
    const before = meter.count
    let cursor: string | undefined
    do {
      const page = await ask(m.new.side, 'list missing blobs (com.atproto.repo.listMissingBlobs)', () =>
        m.new.agent.com.atproto.repo.listMissingBlobs({ limit: PAGE, cursor }),
      )
      const todo = page.data.blobs.map((b) => b.cid).filter((cid) => !failed.has(cid) && !copied.has(cid))
      await mapLimit(todo, CONCURRENCY, async (cid) => {
        try {
          meter.add(await copyBlob(m, cid))
          copied.add(cid)
        } catch (err) {
          if (!(err instanceof MigrateError && err.refused)) throw err
          failed.set(cid, err.message)
        }
      })
      cursor = page.data.blobs.length ? page.data.cursor : undefined
    } while (cursor)
    if (meter.count === before) break
  }

  const summary = meter.finish()
  if (failed.size === 0) {
    m.out.ok(meter.count ? `blobs copied: ${summary}` : `blobs: none missing on the new PDS`)
  } else {
    m.out.warn(`blobs copied: ${summary}; ${failed.size} could not be copied:`)
    for (const why of failed.values()) m.out.line(`    ${why}`)
    if (!m.args.allowMissingBlobs) {
      throw new MigrateError(
        `${failed.size} blob(s) could not be copied, so the identity was not moved; run again to retry, ` +
          'or add --allow-missing-blobs to move without them',
      )
    }
  }
  return { copied: meter.count, bytes: meter.bytes, failed: failed.size }
}

/** Copy one blob; resolves with its size in bytes. */
async function copyBlob(m: Migration, cid: string): Promise<number> {
  const blob = await ask(m.old.side, `send blob ${cid}`, () => m.old.agent.com.atproto.sync.getBlob({ did: m.did, cid }))
  // The declared type travels with the bytes; the new PDS may sniff its own.
  const type = blob.headers['content-type'] ?? 'application/octet-stream'
  const up = await ask(m.new.side, `accept blob ${cid}`, () =>
    m.new.agent.com.atproto.repo.uploadBlob(blob.data, { encoding: type }),
  )
  const got = up.data.blob.ref.toString()
  if (got !== cid) throw new MigrateError(`the new PDS stored blob ${cid} as ${got}: the bytes changed on the way`)
  return blob.data.byteLength
}
