// `npm run admin -- <command>` (in the Docker image: `node src/admin.ts <command>`): the operator's tool, talking to
// the running server over HTTP with the admin password, as the reference's `pdsadmin`. `--help` lists the commands
// and exit codes; src/admin/registry.ts is where commands are added.
import { exitWhenFlushed, Output } from './cli/output.ts'
import { canPrompt, prompt } from './cli/prompt.ts'
import { configFromProcessEnv } from './config/index.ts'
import { commands } from './admin/registry.ts'
import { runAdmin } from './admin/run.ts'

const code = await runAdmin({
  argv: process.argv.slice(2),
  commands,
  out: new Output(process.stdout, process.stderr),
  loadConfig: configFromProcessEnv,
  confirm: canPrompt() ? async (question) => /^y(es)?$/i.test(await prompt(question)) : undefined,
})
exitWhenFlushed(code)
