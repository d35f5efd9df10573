// One server under test as its own child process (bench/servers/<name>.ts): spawn it, time spawn → first healthy
// answer, read its memory and CPU time from /proc, stop it. Linux only (/proc).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { freePort } from '../../test/helpers/pds.ts'

export type ServerName = 'aurora' | 'reference' | 'floor'

export type ServerProcess = {
  name: ServerName
  child: ChildProcess
  pid: number
  /** Where clients call it: 127.0.0.1, the address it listens on (no ::1 attempt first, as `localhost` may cost). */
  url: string
  /** Spawn → the first 200 from /xrpc/_health, in ms. */
  startupMs: number
  dataDir: string
  stop: () => Promise<void>
}

const ROOT = path.resolve(import.meta.dirname, '../..')
/**
 * Node flags `npm start` gives Aurora (package.json): the cache of stripped types loaded before the first .ts file,
 * the launcher's own included.
 */
export const AURORA_NODE_ARGS = ['--import', './src/type-strip-cache.js']
const HEALTH_POLL_MS = 5
const STARTUP_TIMEOUT_MS = 60_000

// If the benchmark dies (an exception, Ctrl-C), the server it started must not outlive it.
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})
process.once('SIGINT', () => process.exit(130))

/**
 * Start `bench/servers/<name>.ts` on a free port with a fresh data directory, registered with `plcUrl`. `nodeArgs`:
 * flags for the server's Node (e.g. `--cpu-prof`), before the script.
 */
export async function startServerProcess(name: ServerName, plcUrl: string, nodeArgs: string[] = []): Promise<ServerProcess> {
  const port = await freePort()
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `bench-${name}-`))
  const url = `http://127.0.0.1:${port}`
  const t0 = performance.now()
  // A clean environment, as a service manager would give it: no NODE_OPTIONS, no LOG_ENABLED from our shell.
  const launch = name === 'aurora' ? AURORA_NODE_ARGS : []
  const child = spawn(process.execPath, [...nodeArgs, ...launch, `bench/servers/${name}.ts`, '--plc', plcUrl, '--port', String(port), '--data', dataDir], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stderr!.on('data', (c) => (output += c))
  readline.createInterface({ input: child.stdout! }).on('line', (line) => (output += line + '\n'))
  live.add(child)
  let exited = false
  child.once('exit', () => ((exited = true), live.delete(child)))
  // Health is polled from the spawn on: the figure is when a client first gets an answer, not when a log line says so.
  for (;;) {
    if (exited) throw new Error(`${name} exited during startup:\n${output}`)
    if (performance.now() - t0 > STARTUP_TIMEOUT_MS) {
      child.kill('SIGKILL')
      throw new Error(`${name} not healthy within ${STARTUP_TIMEOUT_MS} ms:\n${output}`)
    }
    try {
      const res = await fetch(`${url}/xrpc/_health`)
      await res.arrayBuffer()
      if (res.status === 200) break
    } catch {}
    await new Promise((r) => setTimeout(r, HEALTH_POLL_MS))
  }
  const startupMs = performance.now() - t0
  return {
    name,
    child,
    pid: child.pid!,
    url,
    startupMs,
    dataDir,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = once(child, 'exit')
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await gone
        clearTimeout(timer)
      }
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Resident memory now (VmRSS) and the kernel's high-water mark since the process started (VmHWM), in MiB. */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 }
}

const TICKS_PER_SECOND = 100 // USER_HZ: 100 on every Linux build Node supports

/** CPU time the process has used so far (user + system, all its threads), in ms. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11]) // field 14 of proc(5)
  const stime = Number(fields[12]) // field 15
  return ((utime + stime) * 1000) / TICKS_PER_SECOND
}

/** Sample VmRSS every `everyMs` until stopped; the highest sample, a check on VmHWM. */
export function sampleRss(pid: number, everyMs = 100): { stop: () => number } {
  let max = 0
  const tick = () => {
    try {
      max = Math.max(max, memoryOf(pid).rssMiB)
    } catch {}
  }
  tick()
  const timer = setInterval(tick, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      tick()
      return max
    },
  }
}
