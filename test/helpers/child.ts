// The server as its own process (`node src/index.ts`), for tests that restart or kill it.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import readline from 'node:readline'

const ROOT = path.resolve(import.meta.dirname, '../..')

/**
 * Spawn the server and resolve with its "listening" log line (within 20 s), or reject with what it printed. `cwd`: a
 * tree other than this checkout to run `src/index.ts` from (the production tree test).
 */
export async function spawnServer(
  env: Record<string, string>,
  opts: { cwd?: string } = {},
): Promise<{ child: ChildProcess; listening: Record<string, any> }> {
  const child = spawn(process.execPath, ['src/index.ts'], {
    cwd: opts.cwd ?? ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (c) => (stderr += c))
  const lines = readline.createInterface({ input: child.stdout! })
  const listening = await new Promise<Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 20 s; stderr: ${stderr}`)), 20_000)
    lines.on('line', (line) => {
      const entry = JSON.parse(line)
      if (entry.msg === 'aurora-locus listening') {
        clearTimeout(timer)
        resolve(entry)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}: ${stderr}`))
    })
  })
  return { child, listening }
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const exited = once(child, 'exit')
  child.kill(signal)
  const [code] = await exited
  return code
}
