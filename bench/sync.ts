// Sync read throughput on loopback: getRepo of a 10,000-record repo (time, bytes), then getRecord and getLatestCommit
// requests per second from a few concurrent clients for a fixed time each. Prints JSON.
import { performance } from 'node:perf_hooks'
import { startPlc } from '../test/helpers/plc.ts'
import { createUser, startPds } from '../test/helpers/pds.ts'

const RECORDS = 10_000
const BATCH = 200
const GET_REPO_RUNS = 5
const LOOP_MS = 3000
const CONCURRENCY = 8

const plc = await startPlc()
// One loopback client makes thousands of sync reads: the per-IP crawler limit is off for the measurement.
const pds = await startPds({ plcUrl: plc.url, env: { PDS_RATE_LIMIT_SYNC_PER_MINUTE: '0' } })
try {
  const user = await createUser(pds)
  const rkeys: string[] = []
  const t0 = performance.now()
  for (let b = 0; b < RECORDS / BATCH; b++) {
    const writes = Array.from({ length: BATCH }, (_, i) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: 'app.bsky.feed.post',
      value: { $type: 'app.bsky.feed.post', text: `post ${b * BATCH + i}: ${'lorem ipsum '.repeat(8)}`, createdAt: new Date().toISOString() },
    }))
    const res = await user.agent.com.atproto.repo.applyWrites({ repo: user.did, writes })
    for (const r of res.data.results ?? []) rkeys.push((r as { uri: string }).uri.split('/').pop()!)
  }
  const setupMs = performance.now() - t0

  const getRepoUrl = `${pds.url}/xrpc/com.atproto.sync.getRepo?did=${user.did}`
  const repoRuns: { ms: number; bytes: number }[] = []
  for (let i = 0; i < GET_REPO_RUNS; i++) {
    const start = performance.now()
    const res = await fetch(getRepoUrl)
    if (res.status !== 200) throw new Error(`getRepo answered ${res.status}`)
    let bytes = 0
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length
    repoRuns.push({ ms: performance.now() - start, bytes })
  }
  const repoMs = repoRuns.map((r) => r.ms).sort((a, b) => a - b)

  /** Requests/s for `url(i)` from CONCURRENCY clients for LOOP_MS. */
  async function rate(url: (i: number) => string): Promise<{ requests: number; perSecond: number }> {
    let requests = 0
    const end = performance.now() + LOOP_MS
    const start = performance.now()
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const res = await fetch(url(requests))
          if (res.status !== 200) throw new Error(`${url(requests)} answered ${res.status}`)
          await res.arrayBuffer()
          requests += 1
        }
      }),
    )
    return { requests, perSecond: Math.round((requests / (performance.now() - start)) * 1000) }
  }

  const getRecord = await rate(
    (i) => `${pds.url}/xrpc/com.atproto.sync.getRecord?did=${user.did}&collection=app.bsky.feed.post&rkey=${rkeys[(i * 7919) % rkeys.length]}`,
  )
  const getLatestCommit = await rate(() => `${pds.url}/xrpc/com.atproto.sync.getLatestCommit?did=${user.did}`)

  console.log(
    JSON.stringify(
      {
        records: RECORDS,
        setup: { applyWritesBatches: RECORDS / BATCH, ms: Math.round(setupMs) },
        getRepo: {
          bytes: repoRuns[0].bytes,
          runs: GET_REPO_RUNS,
          medianMs: Math.round(repoMs[Math.floor(repoMs.length / 2)]),
          minMs: Math.round(repoMs[0]),
          mbPerSecond: Number((repoRuns[0].bytes / 1e6 / (repoMs[Math.floor(repoMs.length / 2)] / 1000)).toFixed(1)),
        },
        getRecord: { concurrency: CONCURRENCY, seconds: LOOP_MS / 1000, ...getRecord },
        getLatestCommit: { concurrency: CONCURRENCY, seconds: LOOP_MS / 1000, ...getLatestCommit },
        node: process.version,
      },
      null,
      2,
    ),
  )
} finally {
  await pds.destroy()
  await plc.close()
}
