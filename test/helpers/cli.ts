// Run one of the project's command-line tools as a child process, exactly as a user would: a clean environment
// (PATH and what the test gives), no terminal, output captured.
import { spawn } from 'node:child_process'
import path from 'node:path'

export const ROOT = path.resolve(import.meta.dirname, '../..')

export type CliRun = { code: number | null; stdout: string; stderr: string }

/** `node <script> ...args` from the repo root's `script` (e.g. src/admin.ts); resolves once it exits and its pipes drain. */
export function runCli(
  script: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliRun> {
  const child = spawn(process.execPath, [path.join(ROOT, script), ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => (stdout += c))
  child.stderr.on('data', (c) => (stderr += c))
  const ms = opts.timeoutMs ?? 120_000
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${script} did not exit within ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, ms)
    // 'close' rather than 'exit': it comes once the pipes are drained too.
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
