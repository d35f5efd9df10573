// The client side of the paired benchmark: the same code drives Aurora and the reference PDS, over HTTP (@atproto/api
// AtpAgent, fetch) and WebSocket (ws). Each phase reports its wall time and the CPU time the server process used.
import { AtpAgent } from '@atproto/api'
import { DidResolver } from '@atproto/identity'
import { verifyRepoCar } from '@atproto/repo'
import WebSocket from 'ws'
import { within } from '../../test/helpers/firehose-client.ts'
import { peekFrame } from './frame-peek.ts'
import { cpuMsOf } from './server-process.ts'

export type Sizes = {
  /** Untimed createRecords before the first timed phase (JIT, caches, SQLite pages). */
  warmup: number
  sequential: number
  concurrentAccounts: number
  concurrentPerAccount: number
  applyWritesBatches: number
  applyWritesBatchSize: number
  getRepoRecords: number
  getRepoRuns: number
  subscribers: number
  fanoutWrites: number
  fanoutWriters: number
  /** The fixed-rate fan-out phase (same subscribers): writes sent on a schedule, at a rate meant to be within both servers' reach. */
  fixedRateWrites: number
  fixedRatePerSec: number
  replayEvents: number
}

export const FULL: Sizes = {
  warmup: 50,
  sequential: 1000,
  concurrentAccounts: 20,
  concurrentPerAccount: 100,
  applyWritesBatches: 200,
  applyWritesBatchSize: 10,
  getRepoRecords: 10_000,
  getRepoRuns: 5,
  subscribers: 200,
  fanoutWrites: 1000,
  fanoutWriters: 4,
  fixedRateWrites: 150,
  fixedRatePerSec: 10,
  replayEvents: 10_000,
}

export const QUICK: Sizes = {
  warmup: 30,
  sequential: 200,
  concurrentAccounts: 20,
  concurrentPerAccount: 20,
  applyWritesBatches: 50,
  applyWritesBatchSize: 10,
  getRepoRecords: 2000,
  getRepoRuns: 3,
  subscribers: 100,
  fanoutWrites: 200,
  fanoutWriters: 4,
  fixedRateWrites: 60,
  fixedRatePerSec: 10,
  // What the log holds by then (≈1,000 events), so quick mode writes no filler.
  replayEvents: 1000,
}

const REPLAY_RUNS = 3

/** How long a phase may wait for events that should come before it counts the rest as lost. */
const STALL_MS = 15_000

export type Account = { agent: AtpAgent; did: string }

const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** CPU time this process (the client) has used since `start` (a `process.cpuUsage()`), in ms. */
function clientCpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start)
  return (d.user + d.system) / 1000
}

/** Wall time and server CPU time of `fn`. */
async function metered<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; ms: number; serverCpuMs: number }> {
  const cpu0 = cpuMsOf(pid)
  const t0 = performance.now()
  const value = await fn()
  const ms = performance.now() - t0
  return { value, ms, serverCpuMs: cpuMsOf(pid) - cpu0 }
}

/** One post; resolves with the rev of its commit. */
async function createRecord({ agent, did }: Account, text: string): Promise<string> {
  const res = await agent.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: post(text) })
  return res.data.commit!.rev
}

export async function createAccounts(url: string, n: number, prefix: string): Promise<Account[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const agent = new AtpAgent({ service: url })
      const res = await agent.createAccount({ handle: `${prefix}${i}.test`, email: `${prefix}${i}@example.com`, password: `pw-${prefix}${i}` })
      return { agent, did: res.data.did }
    }),
  )
}

// ---- writes -------------------------------------------------------------------------------------------------------

export async function sequentialWrites(pid: number, account: Account, n: number) {
  const m = await metered(pid, async () => {
    for (let i = 0; i < n; i++) await createRecord(account, `sequential ${i}`)
  })
  return { writes: n, perSec: round(n / (m.ms / 1000)), ms: round(m.ms), serverCpuMsPerWrite: round(m.serverCpuMs / n, 2) }
}

export async function concurrentWrites(pid: number, accounts: Account[], perAccount: number) {
  const m = await metered(pid, () =>
    Promise.all(accounts.map(async (a, j) => {
      for (let i = 0; i < perAccount; i++) await createRecord(a, `concurrent ${j}-${i}`)
    })),
  )
  const n = accounts.length * perAccount
  return { accounts: accounts.length, writes: n, perSec: round(n / (m.ms / 1000)), ms: round(m.ms), serverCpuMsPerWrite: round(m.serverCpuMs / n, 2) }
}

function creates(n: number, text: (i: number) => string) {
  return Array.from({ length: n }, (_, i) => ({
    $type: 'com.atproto.repo.applyWrites#create' as const,
    collection: 'app.bsky.feed.post',
    value: post(text(i)),
  }))
}

async function applyWrites({ agent, did }: Account, writes: ReturnType<typeof creates>) {
  await agent.com.atproto.repo.applyWrites({ repo: did, writes })
}

export async function batchedWrites(pid: number, account: Account, batches: number, size: number) {
  const m = await metered(pid, async () => {
    for (let b = 0; b < batches; b++) await applyWrites(account, creates(size, (i) => `batch ${b}-${i}`))
  })
  const n = batches * size
  return { batches, batchSize: size, records: n, recordsPerSec: round(n / (m.ms / 1000)), ms: round(m.ms), serverCpuMsPerRecord: round(m.serverCpuMs / n, 3) }
}

// ---- getRepo ------------------------------------------------------------------------------------------------------

/** Fill a fresh account with `records` posts (applyWrites, 200 a call: the reference's maximum), untimed. */
export async function fillRepo(account: Account, records: number): Promise<number> {
  const t0 = performance.now()
  for (let done = 0; done < records; done += 200) {
    const n = Math.min(200, records - done)
    await applyWrites(account, creates(n, (i) => `post ${done + i}: ${'lorem ipsum '.repeat(8)}`))
  }
  return performance.now() - t0
}

/** Download the whole repo `runs` times (request → last byte); then check the CAR of the first run, untimed. */
export async function getRepo(pid: number, url: string, plcUrl: string, did: string, records: number, runs: number) {
  const times: number[] = []
  let first: Uint8Array | undefined
  const cpu0 = cpuMsOf(pid)
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    const res = await fetch(`${url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`)
    if (res.status !== 200) throw new Error(`getRepo answered ${res.status}: ${await res.text()}`)
    const chunks: Uint8Array[] = []
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk)
    times.push(performance.now() - t0)
    first ??= Buffer.concat(chunks)
  }
  const serverCpuMs = cpuMsOf(pid) - cpu0
  // Parses, the commit's signature verifies against the key in the PLC directory, the MST walks to every record.
  const signingKey = (await new DidResolver({ plcUrl, fetch: globalThis.fetch }).resolveAtprotoData(did, true)).signingKey
  const verified = await verifyRepoCar(first!, did, signingKey)
  const sorted = [...times].sort((a, b) => a - b)
  return {
    records,
    runs,
    bytes: first!.length,
    medianMs: round(percentile(sorted, 50)),
    minMs: round(sorted[0]),
    allMs: times.map((t) => round(t)),
    serverCpuMsPerRun: round(serverCpuMs / runs),
    carVerified: verified.creates.length === records,
    carRecords: verified.creates.length,
  }
}

// ---- firehose -----------------------------------------------------------------------------------------------------

type Event = { seq: number; rev?: string; at: number }

// Only the header and the body's seq and rev are read from each frame (bench/lib/frame-peek.ts): the client should
// cost as little CPU as it can, since it shares the machine with the server it measures. Writes and their #commit
// events are matched by `rev`, which createRecord answers with and which is unique per commit on a server.

/** A subscribeRepos socket that hands each event's seq (and a #commit's rev) to `onEvent`. */
async function subscribe(url: string, cursor: number | undefined, onEvent: (e: Event, bytes: number) => void): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos${cursor === undefined ? '' : `?cursor=${cursor}`}`)
  ws.on('message', (data: Buffer) => {
    const at = performance.now()
    const frame = peekFrame(data)
    if (frame.op !== 1 || frame.seq === undefined) return
    onEvent({ seq: frame.seq, rev: frame.t === '#commit' ? frame.rev : undefined, at }, data.length)
  })
  ws.on('error', () => {})
  await within(new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), 20_000, 'a firehose socket to open')
  return ws
}

/** Resolve once `done()` holds (polled), or after STALL_MS without `progress()` changing. Returns whether done. */
async function settle(done: () => boolean, progress: () => number): Promise<boolean> {
  let last = progress()
  let lastChange = performance.now()
  while (!done()) {
    await new Promise((r) => setTimeout(r, 10))
    const now = progress()
    if (now !== last) (last = now), (lastChange = performance.now())
    else if (performance.now() - lastChange > STALL_MS) return false
  }
  return true
}

/** Counts what one socket received: events, #commit revs, missing seqs (gaps) and repeated ones. */
function tracker() {
  const s = {
    received: new Set<string>(),
    events: 0,
    lastSeq: -1,
    gaps: 0,
    dups: 0,
    lastAt: 0,
    on(e: Event) {
      if (s.lastSeq >= 0 && e.seq <= s.lastSeq) s.dups += 1
      else if (s.lastSeq >= 0 && e.seq !== s.lastSeq + 1) s.gaps += e.seq - s.lastSeq - 1
      s.lastSeq = Math.max(s.lastSeq, e.seq)
      s.events += 1
      s.lastAt = e.at
      if (e.rev) s.received.add(e.rev)
    },
  }
  return s
}

type Subscriber = ReturnType<typeof tracker> & { ws: WebSocket }
type Ack = { sentAt: number; ackAt: number }

/**
 * `n` live sockets on subscribeRepos (no cursor), shared by the fan-out phases, open once every one of them has
 * received a probe write. (A server may attach a new socket to its sequencer a moment after the upgrade; events before
 * that would be counted as lost, unfairly.) `count()` starts a phase: per-socket counts reset, and the receipt time of
 * every #commit noted by rev.
 */
export async function openSubscribers(url: string, n: number, prober: Account) {
  let receipts: Map<string, number[]> | undefined // commit rev → receipt times, over all subscribers
  const subs: Subscriber[] = await Promise.all(
    Array.from({ length: n }, async () => {
      const t = tracker()
      const ws = await subscribe(url, undefined, (e) => {
        t.on(e)
        if (receipts && e.rev) {
          let list = receipts.get(e.rev)
          if (!list) receipts.set(e.rev, (list = []))
          list.push(e.at)
        }
      })
      return Object.assign(t, { ws })
    }),
  )
  const events = () => subs.reduce((sum, s) => sum + s.events, 0)
  const probe = await createRecord(prober, 'probe')
  if (!(await settle(() => subs.every((s) => s.received.has(probe)), events))) {
    throw new Error('not every subscriber received the probe write')
  }
  return {
    subs,
    events,
    count(): Map<string, number[]> {
      for (const s of subs) (s.received = new Set()), (s.events = 0), (s.gaps = 0), (s.dups = 0)
      return (receipts = new Map())
    },
    /** Until every socket has every acknowledged write, or STALL_MS without a new event; whether all came. */
    delivered: (acks: Map<string, Ack>) => settle(() => subs.every((s) => s.received.size >= acks.size), events),
    close: () => subs.forEach((s) => s.ws.terminate()),
  }
}

/** What the sockets received of the acknowledged writes: losses, gaps, and the latencies over (subscriber, write). */
function deliveryFigures(subs: Subscriber[], acks: Map<string, Ack>, receipts: Map<string, number[]>) {
  let lost = 0
  for (const s of subs) for (const rev of acks.keys()) if (!s.received.has(rev)) lost += 1
  const fromAck: number[] = []
  const fromRequest: number[] = []
  for (const [rev, { sentAt, ackAt }] of acks) {
    for (const at of receipts.get(rev) ?? []) fromAck.push(at - ackAt), fromRequest.push(at - sentAt)
  }
  fromAck.sort((a, b) => a - b)
  fromRequest.sort((a, b) => a - b)
  return {
    lost,
    seqGaps: subs.reduce((n, s) => n + s.gaps, 0),
    duplicates: subs.reduce((n, s) => n + s.dups, 0),
    latencyFromAckMs: { p50: round(percentile(fromAck, 50), 2), p99: round(percentile(fromAck, 99), 2), max: round(fromAck.at(-1) ?? NaN, 2) },
    latencyFromRequestMs: { p50: round(percentile(fromRequest, 50), 2), p99: round(percentile(fromRequest, 99), 2) },
    latencySamples: fromAck.length,
  }
}

/**
 * The firehose under live writes, on `subscribers` sockets shared by two phases:
 *
 * - `maxRate`: `writes` createRecords from `writers` accounts at once, each as soon as its previous one is
 *   acknowledged: throughput (delivered events/s), with latencies at whatever write rate the server reaches.
 * - `fixedRate`: `fixed.writes` createRecords sent on a schedule, write i at start + i / `fixed.perSec` s whatever the
 *   earlier ones are doing (the accounts in turn), so both servers are measured at the same load; a server that
 *   cannot keep up shows it in `writeAckMs` and `sendLagMs` (how late the client sent against the schedule).
 *
 * Latency: from the write's HTTP response (ack) to each subscriber's receipt of its #commit; lost: acknowledged writes
 * a subscriber never got.
 */
export async function fanout(
  pid: number,
  url: string,
  writers: Account[],
  subscribers: number,
  writes: number,
  fixed: { writes: number; perSec: number },
) {
  const firehose = await openSubscribers(url, subscribers, writers[0])
  try {
    const maxRate = await maxRateFanout(pid, firehose, writers, writes)
    const fixedRate = await fixedRateFanout(pid, firehose, writers, fixed.writes, fixed.perSec)
    return { maxRate, fixedRate }
  } finally {
    firehose.close()
  }
}

export type Subscribers = Awaited<ReturnType<typeof openSubscribers>>

async function maxRateFanout(pid: number, firehose: Subscribers, writers: Account[], writes: number) {
  const receipts = firehose.count()
  const acks = new Map<string, Ack>()
  const cpu0 = cpuMsOf(pid)
  const client0 = process.cpuUsage()
  const t0 = performance.now()
  let next = 0
  await Promise.all(
    writers.map(async (w) => {
      while (next < writes) {
        next += 1
        const sentAt = performance.now()
        const rev = await createRecord(w, `fanout ${next}`)
        acks.set(rev, { sentAt, ackAt: performance.now() })
      }
    }),
  )
  const writesMs = performance.now() - t0
  if (acks.size !== writes) throw new Error(`${writes} writes answered only ${acks.size} distinct revs`)
  const complete = await firehose.delivered(acks)
  const serverCpuMs = cpuMsOf(pid) - cpu0
  const clientCpuMs = clientCpuMsSince(client0)
  const { subs } = firehose
  const t1 = Math.max(...subs.map((s) => s.lastAt))
  const delivered = firehose.events()
  const figures = deliveryFigures(subs, acks, receipts)
  return {
    subscribers: subs.length,
    writes: acks.size,
    writers: writers.length,
    writesPerSec: round(acks.size / (writesMs / 1000)),
    eventsDelivered: delivered,
    deliveredEventsPerSec: round(delivered / ((t1 - t0) / 1000)),
    complete,
    ...figures,
    serverCpuMs: round(serverCpuMs),
    clientCpuMs: round(clientCpuMs),
    lastSeq: Math.max(...subs.map((s) => s.lastSeq)),
  }
}

export async function fixedRateFanout(pid: number, firehose: Subscribers, writers: Account[], writes: number, perSec: number) {
  const receipts = firehose.count()
  const acks = new Map<string, Ack>()
  const ackMs: number[] = []
  const sendLag: number[] = []
  const pending: Promise<void>[] = []
  const cpu0 = cpuMsOf(pid)
  const client0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < writes; i++) {
    const due = t0 + (i * 1000) / perSec
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    const sentAt = performance.now()
    sendLag.push(sentAt - due)
    pending.push(
      createRecord(writers[i % writers.length], `fixed rate ${i}`).then((rev) => {
        const ackAt = performance.now()
        acks.set(rev, { sentAt, ackAt })
        ackMs.push(ackAt - sentAt)
      }),
    )
  }
  await Promise.all(pending)
  if (acks.size !== writes) throw new Error(`${writes} writes answered only ${acks.size} distinct revs`)
  const complete = await firehose.delivered(acks)
  const serverCpuMs = cpuMsOf(pid) - cpu0
  const clientCpuMs = clientCpuMsSince(client0)
  const { subs } = firehose
  const figures = deliveryFigures(subs, acks, receipts)
  ackMs.sort((a, b) => a - b)
  sendLag.sort((a, b) => a - b)
  return {
    subscribers: subs.length,
    writes: acks.size,
    writers: writers.length,
    targetWritesPerSec: perSec,
    writeAckMs: { p50: round(percentile(ackMs, 50), 2), p99: round(percentile(ackMs, 99), 2), max: round(ackMs.at(-1)!, 2) },
    sendLagMs: { p99: round(percentile(sendLag, 99), 2), max: round(sendLag.at(-1)!, 2) },
    eventsDelivered: firehose.events(),
    complete,
    ...figures,
    serverCpuMs: round(serverCpuMs),
    clientCpuMs: round(clientCpuMs),
    lastSeq: Math.max(...subs.map((s) => s.lastSeq)),
  }
}

/**
 * Fill the event log to at least `events` (createRecords from `writers`, one #commit each, a live socket noting the
 * seq of each), then replay it from cursor 0, REPLAY_RUNS times: connect → the newest event received, the median.
 */
export async function replay(pid: number, url: string, writers: Account[], lastSeq: number, events: number) {
  const live = tracker()
  const liveWs = await subscribe(url, undefined, (e) => live.on(e))
  const fill = new Set<string>()
  let next = 0
  const toWrite = Math.max(0, events - lastSeq)
  await Promise.all(
    writers.map(async (w) => {
      while (next < toWrite) {
        next += 1
        fill.add(await createRecord(w, `fill ${next}`))
      }
    }),
  )
  if (fill.size && !(await settle(() => [...fill].every((rev) => live.received.has(rev)), () => live.events))) {
    throw new Error('the live socket did not receive every fill write')
  }
  liveWs.terminate()
  const newest = Math.max(lastSeq, live.lastSeq)

  // Several replays, each on a new socket from cursor 0: one is over in well under a second, too short to trust alone.
  const runs: { events: number; ms: number; bytes: number; gaps: number; dups: number; complete: boolean }[] = []
  const cpu0 = cpuMsOf(pid)
  const client0 = process.cpuUsage()
  for (let i = 0; i < REPLAY_RUNS; i++) {
    const r = tracker()
    let bytes = 0
    const t0 = performance.now()
    const ws = await subscribe(url, 0, (e, n) => (r.on(e), (bytes += n)))
    const complete = await settle(() => r.lastSeq >= newest, () => r.events)
    runs.push({ events: r.events, ms: r.lastAt - t0, bytes, gaps: r.gaps, dups: r.dups, complete })
    ws.terminate()
  }
  const serverCpuMs = cpuMsOf(pid) - cpu0
  const clientCpuMs = clientCpuMsSince(client0)
  const rates = runs.map((r) => r.events / (r.ms / 1000)).sort((a, b) => a - b)
  const mid = runs[Math.floor(runs.length / 2)]
  return {
    newestSeq: newest,
    runs: REPLAY_RUNS,
    events: Math.min(...runs.map((r) => r.events)),
    eventsPerSec: round(percentile(rates, 50)),
    allEventsPerSec: runs.map((r) => round(r.events / (r.ms / 1000))),
    MiBPerSec: round(mid.bytes / 1024 / 1024 / (mid.ms / 1000), 2),
    complete: runs.every((r) => r.complete),
    seqGaps: runs.reduce((n, r) => n + r.gaps, 0),
    duplicates: runs.reduce((n, r) => n + r.dups, 0),
    serverCpuMsPerRun: round(serverCpuMs / REPLAY_RUNS),
    clientCpuMsPerRun: round(clientCpuMs / REPLAY_RUNS),
    filledWrites: fill.size,
  }
}
