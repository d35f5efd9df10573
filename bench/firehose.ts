// Firehose benchmark: a real server process (temp data, embedded PLC), N live subscribers × M record writes, then a
// replay from cursor 0 over R events. Prints one JSON object.
//
//   npm run bench:firehose                                  # 200 subscribers, 1000 writes, replay 10000
//   npm run bench:firehose -- --subscribers 50 --writes 300 --replay 3000
//   (or FIREHOSE_BENCH_SUBSCRIBERS / _WRITES / _REPLAY / _WRITERS)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { AtpAgent } from '@atproto/api'
import WebSocket from 'ws'
import { decodeFrame } from '../src/protocol/frames.ts'
import { spawnServer, stopChild } from '../test/helpers/child.ts'
import { freePort } from '../test/helpers/pds.ts'

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string' },
    writes: { type: 'string' },
    replay: { type: 'string' },
    writers: { type: 'string' },
  },
})
const num = (arg: string | undefined, env: string, dflt: number) => Number(arg ?? process.env[env] ?? dflt)
const SUBSCRIBERS = num(args.subscribers, 'FIREHOSE_BENCH_SUBSCRIBERS', 200)
const WRITES = num(args.writes, 'FIREHOSE_BENCH_WRITES', 1000)
const REPLAY = num(args.replay, 'FIREHOSE_BENCH_REPLAY', 10_000)
const WRITERS = num(args.writers, 'FIREHOSE_BENCH_WRITERS', 4)
const TIMEOUT_MS = 300_000

type Sub = { ws: WebSocket; count: number; lastSeq: number; gaps: number; dups: number; done: Promise<void> }

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

function rssOf(pid: number): { rssMiB: number; peakRssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN)
  return { rssMiB: round(kb('VmRSS') / 1024), peakRssMiB: round(kb('VmHWM') / 1024) }
}

/** A subscriber that checks seqs are consecutive and calls `onEvent` with each decoded event. */
function subscribe(
  wsUrl: string,
  cursor: number | undefined,
  untilSeq: () => number,
  onEvent?: (seq: number, body: any, at: number) => void,
): Promise<Sub> {
  const ws = new WebSocket(`${wsUrl}/xrpc/com.atproto.sync.subscribeRepos${cursor === undefined ? '' : `?cursor=${cursor}`}`)
  let finish!: () => void
  const sub: Sub = { ws, count: 0, lastSeq: cursor ?? -1, gaps: 0, dups: 0, done: new Promise((r) => (finish = r)) }
  ws.on('message', (data: Buffer) => {
    const at = performance.now()
    const { header, body } = decodeFrame(data)
    if (header.op !== 1 || typeof body.seq !== 'number') return
    const seq = body.seq as number
    if (sub.lastSeq >= 0 && seq <= sub.lastSeq) sub.dups += 1
    else if (sub.lastSeq >= 0 && seq !== sub.lastSeq + 1) sub.gaps += 1
    sub.lastSeq = Math.max(sub.lastSeq, seq)
    sub.count += 1
    onEvent?.(seq, body, at)
    if (sub.lastSeq >= untilSeq()) finish()
  })
  ws.on('error', (err) => console.error('subscriber error', err.message))
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(sub))
    ws.once('error', reject)
  })
}

async function writeRecords(agents: { agent: AtpAgent; did: string }[], total: number, onAck?: (cid: string, sentAt: number, ackAt: number) => void) {
  let next = 0
  await Promise.all(
    agents.map(async ({ agent, did }) => {
      while (next < total) {
        next += 1
        const sentAt = performance.now()
        const res = await agent.com.atproto.repo.createRecord({
          repo: did,
          collection: 'app.bsky.feed.post',
          record: { $type: 'app.bsky.feed.post', text: `bench ${next}`, createdAt: new Date().toISOString() },
        })
        onAck?.(res.data.commit!.cid, sentAt, performance.now())
      }
    }),
  )
}

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT_MS))),
  ])
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-bench-firehose-'))
const port = await freePort()
// All subscribers and writers connect from 127.0.0.1: the per-IP limits (firehose connections, the global XRPC one)
// and the write points would refuse most of them, and so would the caps on open firehose sockets (16 per IP).
const { child } = await spawnServer({
  PDS_PORT: String(port),
  PDS_DATA_DIRECTORY: dir,
  PDS_LOG_LEVEL: 'info',
  PDS_RATE_LIMITS_ENABLED: 'false',
  PDS_FIREHOSE_MAX_CONNECTIONS: '0',
  PDS_FIREHOSE_MAX_CONNECTIONS_PER_IP: '0',
})
child.stderr!.on('data', (d) => process.stderr.write(`[server] ${d}`))
const url = `http://localhost:${port}`
const wsUrl = `ws://localhost:${port}`
try {
  const agents = await Promise.all(
    Array.from({ length: WRITERS }, async (_, i) => {
      const agent = new AtpAgent({ service: url })
      const res = await agent.createAccount({ handle: `bench${i}.test`, email: `bench${i}@example.com`, password: 'pw' })
      return { agent, did: res.data.did }
    }),
  )

  // Live fan-out: N subscribers, M writes. Latency: from the write's HTTP acknowledgement to each receipt.
  let latestSeq = -1
  let targetSeq = Infinity
  const receipts = new Map<string, number[]>() // commit CID → receipt times
  // One more subscriber tells when the events of a set of acknowledged writes are all in, and their last seq.
  const seen = new Set<string>()
  let waiting: { cids: Set<string>; resolve: (seq: number) => void } | undefined
  const settle = () => {
    if (waiting && [...waiting.cids].every((c) => seen.has(c))) waiting.resolve(latestSeq)
  }
  const eventsOf = (cids: Set<string>) =>
    within(new Promise<number>((resolve) => ((waiting = { cids, resolve }), settle())), 'the events of the writes')
  // From cursor 0, so that it knows the seq just before the first write (each new account sequences 4 events).
  const tracker = await subscribe(wsUrl, 0, () => WRITERS * 4, (seq, body) => {
    latestSeq = seq
    if (!body.commit) return
    seen.add(body.commit.toString())
    if (waiting && seen.size >= waiting.cids.size) settle()
  })
  await within(tracker.done, 'the account events')
  const subs = await Promise.all(
    Array.from({ length: SUBSCRIBERS }, () =>
      subscribe(wsUrl, undefined, () => targetSeq, (_seq, body, at) => {
        if (!body.commit) return
        const key = body.commit.toString()
        let list = receipts.get(key)
        if (!list) receipts.set(key, (list = []))
        list.push(at)
      }),
    ),
  )
  const acks = new Map<string, { sentAt: number; ackAt: number }>()
  const startSeq = latestSeq
  const t0 = performance.now()
  await writeRecords(agents, WRITES, (cid, sentAt, ackAt) => acks.set(cid, { sentAt, ackAt }))
  const writesDone = performance.now()
  targetSeq = await eventsOf(new Set(acks.keys()))
  await within(Promise.all(subs.map((s) => (s.lastSeq >= targetSeq ? null : s.done))), 'every subscriber to receive every event')
  const t1 = performance.now()
  const expectedPerSub = targetSeq - startSeq
  const lost = subs.reduce((n, s) => n + Math.max(0, expectedPerSub - s.count), 0)
  const fromAck: number[] = []
  const fromRequest: number[] = []
  for (const [cid, { sentAt, ackAt }] of acks) {
    for (const at of receipts.get(cid) ?? []) {
      fromAck.push(at - ackAt)
      fromRequest.push(at - sentAt)
    }
  }
  fromAck.sort((a, b) => a - b)
  fromRequest.sort((a, b) => a - b)
  const delivered = subs.reduce((n, s) => n + s.count, 0)
  const live = {
    subscribers: SUBSCRIBERS,
    writes: WRITES,
    writers: WRITERS,
    writesPerSec: round(WRITES / ((writesDone - t0) / 1000)),
    eventsDelivered: delivered,
    deliveredEventsPerSec: round(delivered / ((t1 - t0) / 1000)),
    eventsLost: lost,
    gaps: subs.reduce((n, s) => n + s.gaps, 0),
    duplicates: subs.reduce((n, s) => n + s.dups, 0),
    latencyFromAckMs: { p50: round(percentile(fromAck, 50), 2), p99: round(percentile(fromAck, 99), 2), max: round(fromAck.at(-1)!, 2) },
    latencyFromRequestMs: { p50: round(percentile(fromRequest, 50), 2), p99: round(percentile(fromRequest, 99), 2) },
    latencySamples: fromAck.length,
    serverMemory: rssOf(child.pid!),
  }
  for (const s of subs) s.ws.terminate()

  // Fill the log to REPLAY events, then replay it from cursor 0.
  const fill = new Set<string>()
  await writeRecords(agents, Math.max(0, REPLAY - targetSeq), (cid) => fill.add(cid))
  const last = fill.size ? await eventsOf(fill) : targetSeq
  seen.clear()
  tracker.ws.terminate()
  const serverMemoryBeforeReplay = rssOf(child.pid!)
  let bytes = 0
  const r0 = performance.now()
  const replayer = await subscribe(wsUrl, 0, () => last)
  replayer.ws.on('message', (d: Buffer) => (bytes += d.length))
  await within(replayer.done, 'the replay')
  const r1 = performance.now()
  const replay = {
    events: replayer.count,
    eventsPerSec: round(replayer.count / ((r1 - r0) / 1000)),
    MiBPerSec: round(bytes / 1024 / 1024 / ((r1 - r0) / 1000), 2),
    gaps: replayer.gaps,
    duplicates: replayer.dups,
    ms: round(r1 - r0),
  }
  replayer.ws.terminate()

  // Fan-out without the write path in the way: every subscriber replays the newest 1000 events at once.
  const from = Math.max(0, last - 1000)
  const f0 = performance.now()
  const fan = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => subscribe(wsUrl, from, () => last)))
  await within(Promise.all(fan.map((s) => s.done)), 'the concurrent replays')
  const f1 = performance.now()
  const fanDelivered = fan.reduce((n, s) => n + s.count, 0)
  const replayFanout = {
    subscribers: SUBSCRIBERS,
    eventsEach: last - from,
    eventsDelivered: fanDelivered,
    eventsPerSec: round(fanDelivered / ((f1 - f0) / 1000)),
    eventsLost: fan.reduce((n, s) => n + Math.max(0, last - from - s.count), 0),
    gaps: fan.reduce((n, s) => n + s.gaps, 0),
    ms: round(f1 - f0),
  }
  for (const s of fan) s.ws.terminate()
  console.log(
    JSON.stringify(
      {
        node: process.version,
        cpus: os.cpus().length,
        live,
        replay,
        replayFanout,
        serverMemory: { beforeReplay: serverMemoryBeforeReplay, after: rssOf(child.pid!) },
      },
      null,
      2,
    ),
  )
} finally {
  await stopChild(child)
  rmSync(dir, { recursive: true, force: true })
}
