// Write throughput: sequential createRecord/s on one account, concurrent createRecord/s over 20 accounts, and
// applyWrites records/s. A real server on loopback with its embedded PLC directory; prints JSON.
// Usage: npm run bench:writes [-- --seq 500 --concurrent 1000 --batches 20]
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { AtpAgent } from '@atproto/api'
import { TID } from '@atproto/common-web'
import { parseConfig } from '../src/config/index.ts'
import { createLogger } from '../src/logger.ts'
import { startServer } from '../src/server.ts'
import { freePort } from '../test/helpers/pds.ts'

const { values } = parseArgs({
  options: {
    seq: { type: 'string', default: '500' },
    concurrent: { type: 'string', default: '1000' },
    accounts: { type: 'string', default: '20' },
    batches: { type: 'string', default: '20' },
  },
})
const SEQ = Number(values.seq)
const CONCURRENT = Number(values.concurrent)
const ACCOUNTS = Number(values.accounts)
const BATCHES = Number(values.batches)

const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })

const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-bench-'))
const port = await freePort()
// Throughput, not limits: one account writing as fast as it can is exactly what the write-point limit refuses.
const cfg = parseConfig({ PDS_PORT: String(port), PDS_DATA_DIRECTORY: dir, PDS_LOG_LEVEL: 'silent', PDS_RATE_LIMITS_ENABLED: 'false' })
const pds = await startServer(cfg, createLogger('silent'))

async function account(i: number): Promise<AtpAgent> {
  const agent = new AtpAgent({ service: pds.url })
  await agent.createAccount({ handle: `bench${i}.test`, email: `bench${i}@example.com`, password: 'pw' })
  return agent
}

try {
  const agents = await Promise.all(Array.from({ length: ACCOUNTS }, (_, i) => account(i)))
  const [first] = agents

  let t = performance.now()
  for (let i = 0; i < SEQ; i++) {
    await first.com.atproto.repo.createRecord({ repo: first.session!.did, collection: 'app.bsky.feed.post', record: post(`s${i}`) })
  }
  const sequential = SEQ / ((performance.now() - t) / 1000)

  t = performance.now()
  const perAccount = Math.ceil(CONCURRENT / ACCOUNTS)
  await Promise.all(
    agents.map(async (agent, a) => {
      for (let i = 0; i < perAccount; i++) {
        await agent.com.atproto.repo.createRecord({ repo: agent.session!.did, collection: 'app.bsky.feed.post', record: post(`c${a}-${i}`) })
      }
    }),
  )
  const concurrent = (perAccount * ACCOUNTS) / ((performance.now() - t) / 1000)

  t = performance.now()
  for (let b = 0; b < BATCHES; b++) {
    await first.com.atproto.repo.applyWrites({
      repo: first.session!.did,
      writes: Array.from({ length: 200 }, (_, i) => ({
        $type: 'com.atproto.repo.applyWrites#create' as const,
        collection: 'app.bsky.feed.post',
        rkey: TID.nextStr(),
        value: post(`b${b}-${i}`),
      })),
    })
  }
  const batched = (BATCHES * 200) / ((performance.now() - t) / 1000)

  console.log(
    JSON.stringify(
      {
        bench: 'writes',
        node: process.version,
        sequentialCreateRecordPerSec: Math.round(sequential),
        concurrentCreateRecordPerSec: Math.round(concurrent),
        concurrentAccounts: ACCOUNTS,
        applyWritesRecordsPerSec: Math.round(batched),
        writes: { sequential: SEQ, concurrent: perAccount * ACCOUNTS, applyWrites: BATCHES * 200 },
        latestSeq: pds.ctx.sequencer.latestSeq(),
      },
      null,
      2,
    ),
  )
} finally {
  await pds.close()
  rmSync(dir, { recursive: true, force: true })
}
