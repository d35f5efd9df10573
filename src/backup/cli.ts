// `npm run backup -- <destination> [--data-dir <dir>]` and `npm run restore -- <backup> <data dir>` on their own,
// until the admin CLI takes them in. Exit codes: EXIT in commands.ts. Ctrl-C stops a backup cleanly.
import { enableCompileCache } from 'node:module'

// As in src/index.ts: the compile cache must be on before the @atproto libraries load, hence the dynamic imports.
enableCompileCache()
const { configFromProcessEnv } = await import('../config/index.ts')
const { backupCommand, EXIT, restoreCommand } = await import('./commands.ts')

const [command, ...args] = process.argv.slice(2)
const stop = new AbortController()
process.once('SIGINT', () => stop.abort())
process.once('SIGTERM', () => stop.abort())
const io = {
  out: (line: string) => process.stdout.write(line + '\n'),
  err: (line: string) => process.stderr.write(line + '\n'),
  config: configFromProcessEnv,
  signal: stop.signal,
}

let code: number
if (command === 'backup') code = await backupCommand(args, io)
else if (command === 'restore') code = await restoreCommand(args, io)
else {
  io.err('usage: node src/backup/cli.ts backup|restore ... (npm run backup / npm run restore)')
  code = EXIT.usage
}
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
