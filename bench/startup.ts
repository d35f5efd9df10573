// Startup time and idle memory of Aurora Locus alone, a quicker loop than the paired benchmark's (issue 15):
// each trial spawns the server on a free port and a fresh data directory, polls GET /xrpc/_health every 5 ms from the
// spawn on, reads VmRSS/VmHWM 2 s after the first 200, and stops it. Medians of the trials are printed.
//
//   node bench/startup.ts                  # 5 trials of the paired benchmark's launcher (bench/servers/aurora.ts)
//   node bench/startup.ts --how npm        # `npm start` itself (npm's own startup included), env from this script
//   node bench/startup.ts --how node       # the command line `npm start` runs, without npm
//   node bench/startup.ts --how plain      # `node src/index.ts` (the Docker image's command)
//   node bench/startup.ts --cold            # each trial with an empty compile cache: a first start (a new container)
//   node bench/startup.ts --trials 9 --node-arg=--max-semi-space-size=2
//
// Each trial has its own PLC directory (test/helpers/plc.ts) in this process, as the paired benchmark does. Besides
// wall time (which another process on the machine stretches) it reports the server's CPU time up to its first healthy
// answer, the steadier figure on a shared machine.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { startPlc } from '../test/helpers/plc.ts'
import { freePort } from '../test/helpers/pds.ts'
import { AURORA_NODE_ARGS, cpuMsOf, memoryOf } from './lib/server-process.ts'

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '5' },
    how: { type: 'string', default: 'launcher' },
    'node-arg': { type: 'string', multiple: true, default: [] },
    'settle-ms': { type: 'string', default: '2000' },
    cold: { type: 'boolean', default: false },
  },
})
const ROOT = path.resolve(import.meta.dirname, '..')
const TRIALS = Math.max(1, Number(args.trials))
const SETTLE_MS = Number(args['settle-ms'])
const nodeArgs = args['node-arg']
if (!['launcher', 'npm', 'node', 'plain'].includes(args.how)) throw new Error(`--how launcher|npm|node|plain, not ${args.how}`)

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length / 2
  return Number.isInteger(mid) ? (s[mid - 1] + s[mid]) / 2 : s[Math.floor(mid)]
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Trial = { startupMs: number; cpuMs: number; rssMiB: number; hwmMiB: number }

async function trial(): Promise<Trial> {
  const plc = await startPlc()
  const port = await freePort()
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-startup-'))
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PDS_PORT: String(port),
    PDS_DATA_DIRECTORY: dataDir,
    PDS_DID_PLC_URL: plc.url,
    PDS_LOG_LEVEL: 'warn',
  }
  const compileCache = args.cold ? mkdtempSync(path.join(os.tmpdir(), 'bench-startup-cache-')) : undefined
  if (compileCache) Object.assign(env, { NODE_COMPILE_CACHE: compileCache })
  const [cmd, argv] =
    args.how === 'npm'
      ? ['npm', ['start', '--silent']]
      : args.how === 'node'
        ? [process.execPath, [...nodeArgs, ...AURORA_NODE_ARGS, 'src/index.ts']]
        : args.how === 'plain'
          ? [process.execPath, [...nodeArgs, 'src/index.ts']]
          : [process.execPath, [...nodeArgs, ...AURORA_NODE_ARGS, 'bench/servers/aurora.ts', '--plc', plc.url, '--port', String(port), '--data', dataDir]]
  if (args.how === 'npm' && nodeArgs.length > 0) Object.assign(env, { NODE_OPTIONS: nodeArgs.join(' ') })
  const t0 = performance.now()
  // Detached: `npm start` runs node in a child of its own, and the whole group is stopped at the end.
  const child = spawn(cmd, argv, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  let stderr = ''
  child.stderr!.on('data', (c) => (stderr += c))
  let exited = false
  child.once('exit', () => (exited = true))
  const url = `http://127.0.0.1:${port}/xrpc/_health`
  try {
    for (;;) {
      if (exited) throw new Error(`server exited during startup:\n${stderr}`)
      if (performance.now() - t0 > 60_000) throw new Error(`not healthy within 60 s:\n${stderr}`)
      try {
        const res = await fetch(url)
        await res.arrayBuffer()
        if (res.status === 200) break
      } catch {}
      await sleep(5)
    }
    const startupMs = performance.now() - t0
    // Under npm the server is npm's child: that process is the one measured (npm's own CPU time is not counted).
    const pid = args.how === 'npm' ? serverPidUnder(child.pid!) : child.pid!
    const cpuMs = cpuMsOf(pid)
    await sleep(SETTLE_MS)
    const { rssMiB, hwmMiB } = memoryOf(pid)
    return { startupMs, cpuMs, rssMiB, hwmMiB }
  } finally {
    const gone = once(child, 'exit')
    if (!exited) process.kill(-child.pid!, 'SIGTERM')
    await Promise.race([gone, sleep(10_000).then(() => process.kill(-child.pid!, 'SIGKILL'))])
    rmSync(dataDir, { recursive: true, force: true })
    if (compileCache) rmSync(compileCache, { recursive: true, force: true })
    await plc.close()
  }
}

/** The node process `npm start` runs (npm → sh → node, or npm → node): the deepest descendant. */
function serverPidUnder(pid: number): number {
  for (;;) {
    let kids: string[] = []
    try {
      kids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean)
    } catch {} // ps exits 1 when the process has no children
    if (kids.length === 0) return pid
    pid = Number(kids[0])
  }
}

const trials: Trial[] = []
for (let i = 0; i < TRIALS; i++) {
  const t = await trial()
  trials.push(t)
  process.stderr.write(`trial ${i + 1}: healthy in ${Math.round(t.startupMs)} ms (${t.cpuMs} ms CPU), idle RSS ${t.rssMiB.toFixed(1)} MiB, HWM ${t.hwmMiB.toFixed(1)} MiB\n`)
}
const summary = {
  how: args.how,
  cold: args.cold,
  nodeArgs,
  trials: TRIALS,
  startupMs: Math.round(median(trials.map((t) => t.startupMs))),
  cpuMs: median(trials.map((t) => t.cpuMs)),
  idleRssMiB: Number(median(trials.map((t) => t.rssMiB)).toFixed(1)),
  hwmMiB: Number(median(trials.map((t) => t.hwmMiB)).toFixed(1)),
  loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
}
console.log(JSON.stringify(summary))
