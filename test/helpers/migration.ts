// Helpers for account migration tests, against any PDS (ours or the reference): an account with something of
// everything to move, a snapshot of what a PDS serves for it, and `npm run migrate` run as a child process.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { AtpAgent } from '@atproto/api'
import { ROOT, runCli, type CliRun } from './cli.ts'
import { png } from './images.ts'

export type { CliRun }

export type SeededAccount = {
  did: string
  handle: string
  email: string
  password: string
  agent: AtpAgent
  /** Bytes of each blob the account's records reference, by CID. */
  blobs: Map<string, Buffer>
}

/**
 * Create `handle` on `pdsUrl` with three posts (one with an image), a profile with an avatar, a follow (of
 * `followDid`) and a preference: 5 records, 2 blobs.
 */
export async function seedAccount(pdsUrl: string, handle: string, followDid: string): Promise<SeededAccount> {
  const agent = new AtpAgent({ service: pdsUrl })
  const email = `${handle.split('.')[0]}@example.org`
  const password = `pw-${handle}`
  await agent.createAccount({ handle, email, password })
  const did = agent.session!.did
  const blobs = new Map<string, Buffer>()
  const upload = async (bytes: Buffer) => {
    const res = await agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'image/png' })
    blobs.set(res.data.blob.ref.toString(), bytes)
    return res.data.blob
  }
  const createdAt = () => new Date().toISOString()
  await agent.post({ text: 'first post', createdAt: createdAt() })
  await agent.post({ text: 'second post', createdAt: createdAt() })
  const image = await upload(png(64, 10))
  await agent.post({
    text: 'a picture',
    createdAt: createdAt(),
    embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'grey', image }] },
  })
  const avatar = await upload(png(32, 200))
  await agent.com.atproto.repo.putRecord({
    repo: did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: handle, description: 'moving soon', avatar },
  })
  await agent.follow(followDid)
  await agent.app.bsky.actor.putPreferences({
    preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: false }],
  })
  return { did, handle, email, password, agent, blobs }
}

/** Every record a PDS serves for `did` (`collection/rkey` → CID), via describeRepo and listRecords. */
export async function recordCids(pdsUrl: string, did: string): Promise<Map<string, string>> {
  const agent = new AtpAgent({ service: pdsUrl })
  const out = new Map<string, string>()
  const { collections } = (await agent.com.atproto.repo.describeRepo({ repo: did })).data
  for (const collection of collections) {
    let cursor: string | undefined
    do {
      const page = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100, cursor })
      for (const r of page.data.records) out.set(r.uri.split('/').slice(-2).join('/'), r.cid)
      cursor = page.data.records.length ? page.data.cursor : undefined
    } while (cursor)
  }
  return out
}


/**
 * Run `node src/migrate/cli.ts …args` in `cwd` (where its state file goes) with no terminal, wait for it to exit
 * (within `timeoutMs`), and give back its exit code and output.
 */
export function runMigrateCli(args: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliRun> {
  return runCli('src/migrate/cli.ts', args, opts)
}

export type TerminalRun = {
  /** Everything the terminal showed so far (what was typed appears only if the program echoed it). */
  output: () => string
  /** Resolves once the output matches `pattern` (within `ms`). */
  waitFor: (pattern: RegExp, ms?: number) => Promise<void>
  /** Type `text` (end a line with `\r`, as the Enter key does). */
  type: (text: string) => void
  exited: Promise<number | null>
  kill: () => void
}

/**
 * Run the CLI on a real pseudo-terminal (util-linux `script`: see SCRIPT in system.ts), for its prompts: stdin and
 * stdout are a TTY there.
 */
export function runMigrateCliOnTerminal(args: string[], opts: { cwd: string; env?: Record<string, string> }): TerminalRun {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`
  const command = [process.execPath, path.join(ROOT, 'src/migrate/cli.ts'), ...args].map(quote).join(' ')
  const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH, TERM: 'dumb', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let output = ''
  const waiters = new Set<() => void>()
  const onData = (c: Buffer) => {
    output += c.toString('utf8')
    for (const w of [...waiters]) w()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {
    output: () => output,
    waitFor: (pattern, ms = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no ${pattern} on the terminal within ${ms} ms; it showed:\n${output}`))
        }, ms)
        const check = () => {
          if (!pattern.test(output)) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        waiters.add(check)
        check()
      }),
    type: (text) => child.stdin.write(text),
    exited,
    kill: () => child.kill('SIGKILL'),
  }
}
