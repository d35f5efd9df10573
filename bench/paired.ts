// The paired benchmark: Aurora Locus and the reference PDS (@atproto/pds) in the same run on the same machine, each
// in its own child process on loopback with its own fresh PLC directory, one after the other (never both at once, so
// they do not share the cores), driven by the same client code (bench/lib/workload.ts). Prints a table of each figure
// for both and the ratio Aurora/reference, and writes everything to bench/results/<date>[-quick].json.
//
//   npm run bench                        # full sizes (several minutes)
//   npm run bench -- --quick             # smaller sizes, about a minute and a half
//   npm run bench -- --quick --note "machine shared with other test suites"
//   npm run bench -- --only aurora       # one server, no ratios (for profiling a change)
//   npm run bench -- --order reference,aurora --out /tmp/run.json
//
// What each figure measures, exactly: bench/README.md.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { startPlc } from '../test/helpers/plc.ts'
import { memoryOf, sampleRss, startServerProcess, type ServerName } from './lib/server-process.ts'
import * as w from './lib/workload.ts'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    order: { type: 'string', default: 'aurora,reference' },
    note: { type: 'string' },
    out: { type: 'string' },
    'startup-trials': { type: 'string' },
  },
})
const sizes = args.quick ? w.QUICK : w.FULL
const order = (args.only ? [args.only] : args.order.split(',')) as ServerName[]
if (!order.every((n) => n === 'aurora' || n === 'reference')) throw new Error(`unknown server in --order/--only: ${String(order)}`)
const STARTUP_TRIALS = Math.max(1, Number(args['startup-trials'] ?? (args.quick ? 2 : 3)))
const IDLE_SETTLE_MS = 2000
const ROOT = path.resolve(import.meta.dirname, '..')

const progress = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length / 2
  return Number.isInteger(mid) ? (sorted[mid - 1] + sorted[mid]) / 2 : sorted[Math.floor(mid)]
}

async function runOne(name: ServerName) {
  const plc = await startPlc()
  try {
    // Startup: spawn → first healthy answer, each on a fresh data directory; the last process goes on to the load.
    const startups: number[] = []
    let server = await startServerProcess(name, plc.url)
    startups.push(server.startupMs)
    for (let i = 1; i < STARTUP_TRIALS; i++) {
      await server.stop()
      server = await startServerProcess(name, plc.url)
      startups.push(server.startupMs)
    }
    progress(`${name}: healthy in ${startups.map((t) => Math.round(t)).join(', ')} ms (pid ${server.pid})`)
    try {
      await sleep(IDLE_SETTLE_MS)
      const idle = memoryOf(server.pid)
      const sampler = sampleRss(server.pid)
      const { pid, url } = server

      const accounts = await w.createAccounts(url, sizes.concurrentAccounts, 'writer')
      const [big] = await w.createAccounts(url, 1, 'big')
      for (let i = 0; i < sizes.warmup; i++) {
        await accounts[0].agent.com.atproto.repo.createRecord({
          repo: accounts[0].did,
          collection: 'app.bsky.feed.post',
          record: { $type: 'app.bsky.feed.post', text: `warmup ${i}`, createdAt: new Date().toISOString() },
        })
      }
      progress(`${name}: ${accounts.length + 1} accounts, ${sizes.warmup} warm-up writes; sequential writes`)
      const sequential = await w.sequentialWrites(pid, accounts[0], sizes.sequential)
      progress(`${name}: concurrent writes`)
      const concurrent = await w.concurrentWrites(pid, accounts, sizes.concurrentPerAccount)
      progress(`${name}: applyWrites`)
      const applyWrites = await w.batchedWrites(pid, accounts[0], sizes.applyWritesBatches, sizes.applyWritesBatchSize)
      progress(`${name}: filling a ${sizes.getRepoRecords}-record repo`)
      const fillMs = await w.fillRepo(big, sizes.getRepoRecords)
      progress(`${name}: getRepo`)
      const getRepo = { ...(await w.getRepo(pid, url, plc.url, big.did, sizes.getRepoRecords, sizes.getRepoRuns)), fillMs: Math.round(fillMs) }
      progress(
        `${name}: firehose fan-out, ${sizes.subscribers} subscribers × ${sizes.fanoutWrites} writes at full speed, ` +
          `then ${sizes.fixedRateWrites} at ${sizes.fixedRatePerSec}/s`,
      )
      const { maxRate: fanout, fixedRate: fanoutFixedRate } = await w.fanout(
        pid,
        url,
        accounts.slice(0, sizes.fanoutWriters),
        sizes.subscribers,
        sizes.fanoutWrites,
        { writes: sizes.fixedRateWrites, perSec: sizes.fixedRatePerSec },
      )
      progress(`${name}: cursor replay of ${sizes.replayEvents} events`)
      const replay = await w.replay(pid, url, accounts, fanout.lastSeq, sizes.replayEvents)
      const sampledPeakMiB = sampler.stop()
      const end = memoryOf(pid)
      return {
        startupMs: { median: Math.round(median(startups)), trials: startups.map((t) => Math.round(t)) },
        memoryMiB: {
          idle: Math.round(idle.rssMiB * 10) / 10,
          peak: Math.round(end.hwmMiB * 10) / 10,
          sampledPeak: Math.round(sampledPeakMiB * 10) / 10,
          end: Math.round(end.rssMiB * 10) / 10,
        },
        sequential,
        concurrent,
        applyWrites,
        getRepo,
        fanout,
        fanoutFixedRate,
        replay,
      }
    } finally {
      await server.stop()
    }
  } finally {
    await plc.close()
  }
}

type Result = Awaited<ReturnType<typeof runOne>>

const git = (...a: string[]) => {
  try {
    return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim()
  } catch {
    return undefined
  }
}
const started = new Date()
const loadBefore = os.loadavg()
progress(`${args.quick ? 'quick' : 'full'} run; servers one after the other: ${order.join(', ')}`)
const results: Partial<Record<ServerName, Result>> = {}
for (const name of order) results[name] = await runOne(name)
const loadAfter = os.loadavg()

// ---- the table ----------------------------------------------------------------------------------------------------

type Row = { label: string; get: (r: Result) => number; better: 'higher' | 'lower' | null; digits?: number }
const s = sizes
const rows: Row[] = [
  { label: `sequential createRecord/s (1 account, ${s.sequential} writes)`, get: (r) => r.sequential.perSec, better: 'higher' },
  {
    label: `concurrent createRecord/s (${s.concurrentAccounts} accounts × ${s.concurrentPerAccount})`,
    get: (r) => r.concurrent.perSec,
    better: 'higher',
  },
  {
    label: `applyWrites records/s (${s.applyWritesBatches} batches of ${s.applyWritesBatchSize})`,
    get: (r) => r.applyWrites.recordsPerSec,
    better: 'higher',
  },
  { label: `getRepo time, ms (${s.getRepoRecords} records, median of ${s.getRepoRuns})`, get: (r) => r.getRepo.medianMs, better: 'lower' },
  { label: `getRepo size, KiB (CAR verified)`, get: (r) => r.getRepo.bytes / 1024, better: null, digits: 0 },
  {
    label: `firehose delivered events/s (${s.subscribers} subscribers × ${s.fanoutWrites} writes)`,
    get: (r) => r.fanout.deliveredEventsPerSec,
    better: 'higher',
  },
  { label: 'firehose write-ack → receipt p50, ms', get: (r) => r.fanout.latencyFromAckMs.p50, better: 'lower', digits: 1 },
  { label: 'firehose write-ack → receipt p99, ms', get: (r) => r.fanout.latencyFromAckMs.p99, better: 'lower', digits: 1 },
  { label: 'firehose write request → receipt p50, ms', get: (r) => r.fanout.latencyFromRequestMs.p50, better: 'lower', digits: 1 },
  { label: 'firehose write request → receipt p99, ms', get: (r) => r.fanout.latencyFromRequestMs.p99, better: 'lower', digits: 1 },
  { label: 'firehose events lost (all subscribers)', get: (r) => r.fanout.lost, better: null },
  {
    label: `firehose at a fixed ${s.fixedRatePerSec} writes/s (${s.subscribers} subscribers × ${s.fixedRateWrites} writes): write-ack → receipt p50, ms`,
    get: (r) => r.fanoutFixedRate.latencyFromAckMs.p50,
    better: 'lower',
    digits: 1,
  },
  { label: `firehose at ${s.fixedRatePerSec} writes/s: write-ack → receipt p99, ms`, get: (r) => r.fanoutFixedRate.latencyFromAckMs.p99, better: 'lower', digits: 1 },
  { label: `firehose at ${s.fixedRatePerSec} writes/s: write-ack → receipt max, ms`, get: (r) => r.fanoutFixedRate.latencyFromAckMs.max, better: 'lower', digits: 1 },
  { label: `firehose at ${s.fixedRatePerSec} writes/s: write request → receipt p50, ms`, get: (r) => r.fanoutFixedRate.latencyFromRequestMs.p50, better: 'lower', digits: 1 },
  { label: `firehose at ${s.fixedRatePerSec} writes/s: write request → receipt p99, ms`, get: (r) => r.fanoutFixedRate.latencyFromRequestMs.p99, better: 'lower', digits: 1 },
  { label: `firehose at ${s.fixedRatePerSec} writes/s: write request → ack p99, ms`, get: (r) => r.fanoutFixedRate.writeAckMs.p99, better: 'lower', digits: 1 },
  { label: `firehose at ${s.fixedRatePerSec} writes/s: events lost`, get: (r) => r.fanoutFixedRate.lost, better: null },
  { label: `cursor replay events/s (from cursor 0, ≥ ${s.replayEvents} events, median of 3)`, get: (r) => r.replay.eventsPerSec, better: 'higher' },
  { label: 'cursor replay seqs missing (all replays)', get: (r) => r.replay.seqGaps, better: null },
  { label: 'RSS idle, MiB (2 s after healthy)', get: (r) => r.memoryMiB.idle, better: 'lower', digits: 0 },
  { label: 'RSS peak, MiB (VmHWM over the run)', get: (r) => r.memoryMiB.peak, better: 'lower', digits: 0 },
  { label: `startup to healthy, ms (median of ${STARTUP_TRIALS})`, get: (r) => r.startupMs.median, better: 'lower', digits: 0 },
  { label: 'server CPU per sequential createRecord, ms', get: (r) => r.sequential.serverCpuMsPerWrite, better: 'lower', digits: 2 },
  { label: 'server CPU per concurrent createRecord, ms', get: (r) => r.concurrent.serverCpuMsPerWrite, better: 'lower', digits: 2 },
]

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : String(n))
const { aurora, reference } = results
const table: string[] = []
table.push(`| figure | Aurora | reference | Aurora/reference |`)
table.push(`| --- | ---: | ---: | ---: |`)
const ratios: Record<string, number | null> = {}
for (const row of rows) {
  const a = aurora ? row.get(aurora) : NaN
  const r = reference ? row.get(reference) : NaN
  // A ratio of times means nothing once one is negative (an event that outran its write's answer): shown as —.
  const ratio = row.better && Number.isFinite(a) && Number.isFinite(r) && r > 0 && a >= 0 ? a / r : null
  ratios[row.label] = ratio === null ? null : Math.round(ratio * 100) / 100
  const cell = ratio === null ? '—' : `${ratio.toFixed(2)}× (${row.better} is better)`
  table.push(`| ${row.label} | ${aurora ? fmt(a, row.digits) : '—'} | ${reference ? fmt(r, row.digits) : '—'} | ${cell} |`)
}

const cpus = os.cpus()
const machine = {
  cpus: cpus.length,
  cpuModel: cpus[0]?.model,
  memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
  kernel: `${os.type()} ${os.release()}`,
  loadAverage1m: { before: Math.round(loadBefore[0] * 100) / 100, after: Math.round(loadAfter[0] * 100) / 100 },
  // Where the data directories were (os.tmpdir(), i.e. $TMPDIR): on tmpfs an fsync costs nothing and writes look faster.
  dataDirectoryFilesystem: (() => {
    try {
      return execFileSync('df', ['--output=fstype', os.tmpdir()], { encoding: 'utf8' }).trim().split('\n').pop()
    } catch {
      return undefined
    }
  })(),
}
const referenceVersion = JSON.parse(readFileSync(path.join(ROOT, 'node_modules/@atproto/pds/package.json'), 'utf8')).version
const commit = git('rev-parse', '--short', 'HEAD')
const dirty = !!git('status', '--porcelain', '--untracked-files=no')
const header = [
  `Paired benchmark, ${args.quick ? 'QUICK mode (smaller sizes than the full run)' : 'full sizes'}: ${started.toISOString().slice(0, 16)}Z, ` +
    `Aurora ${commit}${dirty ? ' (uncommitted changes)' : ''} vs @atproto/pds ${referenceVersion}, Node ${process.version}.`,
  `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.kernel}, data on ${machine.dataDirectoryFilesystem}; ` +
    `load average (1 min) ${machine.loadAverage1m.before} before, ${machine.loadAverage1m.after} after.`,
  `Servers ran one after the other (${order.join(' then ')}), each in its own process on loopback with its own PLC directory ` +
    `and rate limits off; the client (this process) ran beside each.${args.note ? ` Note: ${args.note}` : ''}`,
]
console.log(['', ...header, '', ...table, ''].join('\n'))

const out =
  args.out ?? path.join(ROOT, 'bench/results', `${started.toISOString().slice(0, 10)}${args.quick ? '-quick' : ''}${args.only ? `-${args.only}` : ''}.json`)
mkdirSync(path.dirname(out), { recursive: true })
writeFileSync(
  out,
  JSON.stringify(
    {
      date: started.toISOString(),
      mode: args.quick ? 'quick' : 'full',
      note: args.note ?? null,
      aurora: { commit, uncommittedChanges: dirty },
      reference: { package: '@atproto/pds', version: referenceVersion },
      node: process.version,
      machine,
      order,
      sizes,
      startupTrials: STARTUP_TRIALS,
      results,
      ratios,
      table: [...header, '', ...table].join('\n'),
    },
    null,
    2,
  ) + '\n',
)
progress(`results written to ${path.relative(process.cwd(), out)}`)
