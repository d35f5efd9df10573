// `npm run doctor [-- --json] [-- --all-accounts]`: checks this PDS from the outside the way a relay sees it.
// Same configuration as the server (the environment, parsed by src/config). Exit code: 0 fine (warnings allowed),
// 1 something is wrong, 2 bad configuration or usage.
import { ConfigError, configFromProcessEnv, type Config } from '../config/index.ts'
import { runDoctor } from './checks.ts'
import { formatReport } from './format.ts'

const USAGE = 'usage: npm run doctor [-- --json] [-- --all-accounts]\n'
const args = new Set(process.argv.slice(2))
for (const arg of args) {
  if (arg === '--help' || arg === '-h') {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  if (arg !== '--json' && arg !== '--all-accounts') {
    process.stderr.write(`aurora-locus doctor: unknown option ${arg}\n${USAGE}`)
    process.exit(2)
  }
}

let cfg: Config
try {
  cfg = configFromProcessEnv()
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`aurora-locus doctor: bad configuration: ${err.message}\n`)
    process.exit(2)
  }
  throw err
}

const report = await runDoctor({ cfg, maxAccounts: args.has('--all-accounts') ? Infinity : 100 })
const text = args.has('--json')
  ? JSON.stringify(report, null, 2) + '\n'
  : `Aurora Locus doctor: ${cfg.publicUrl}\n\n${formatReport(report)}`
// Exit once written: idle keep-alive sockets to the checked servers would otherwise hold the process for seconds.
process.stdout.write(text, () => process.exit(report.ok ? 0 : 1))
