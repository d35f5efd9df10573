// `npm run migrate -- --from <old PDS> --identifier <handle> --to <new PDS> …`: moves an account between any two
// PDSs with the official sequence, resumably. `--help` for the options; exit codes in errors.ts (EXIT).
import { parseMigrateArgs, USAGE } from './args.ts'
import { EXIT, MigrateError } from './errors.ts'
import { exitWhenFlushed as exit, Output } from '../cli/output.ts'
import { canPrompt, prompt } from '../cli/prompt.ts'
import { runMigration } from './run.ts'

const out = new Output(process.stdout, process.stderr)

try {
  const args = parseMigrateArgs(process.argv.slice(2), process.env)
  if (args === 'help') {
    process.stdout.write(USAGE)
    exit(EXIT.ok)
  } else {
    const interactive = canPrompt()
    const code = await runMigration({
      args,
      out,
      askSecret: interactive ? (q) => prompt(q, { hidden: true }) : undefined,
      askCode: interactive ? () => prompt('Confirmation code from that email: ') : undefined,
    })
    exit(code)
  }
} catch (err) {
  if (err instanceof MigrateError) {
    out.fail(err.message)
    exit(err.exitCode)
  } else {
    out.fail(`unexpected error: ${(err as Error).stack ?? String(err)}`)
    exit(EXIT.failed)
  }
}
