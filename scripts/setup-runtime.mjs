// Postinstall: make better-sqlite3's native addon match the Node 22 runtime the project brings.
//
// Why: machines here ship Node 20 + npm, and npm builds native addons for the Node that runs it, against the
// headers in its `nodedir` setting. The optional `node-linux-<arch>` package puts Node 22 in node_modules/.bin, and
// npm runs lifecycle scripts with that folder first on PATH, so this file already runs under Node 22. If the addon
// was built for another ABI we rebuild it here against Node 22's own headers (shipped in that same package).
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const major = Number(process.versions.node.split('.')[0])

if (major < 22) {
  console.error(`setup-runtime: running under Node ${process.versions.node}; expected the project's Node 22 ` +
    `from node_modules/.bin (npm package node-${process.platform}-${process.arch}). On a platform without one, ` +
    `install Node 22 or newer yourself.`)
  process.exit(1)
}

// Checked in a child process: a failed dlopen is cached per process, so a re-check in-process would lie.
function addonLoads() {
  const probe = "const D = require('better-sqlite3'); new D(':memory:').close()"
  const res = spawnSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8' })
  if (res.status === 0) return true
  return new Error((res.stderr || 'exit ' + res.status).split('\n').find((l) => /Error/.test(l)) ?? res.stderr)
}

const first = addonLoads()
if (first === true) {
  console.log(`setup-runtime: better-sqlite3 loads under Node ${process.versions.node}`)
  process.exit(0)
}

// Headers for this exact Node: the platform package installed by the "node" package, else the running binary's
// own prefix (a system Node 22 install keeps them in <prefix>/include/node).
const candidates = [
  path.join(root, 'node_modules', `node-${process.platform}-${process.arch}`),
  path.resolve(path.dirname(process.execPath), '..'),
]
const nodedir = candidates.find((dir) => existsSync(path.join(dir, 'include/node/node_version.h')))
if (!nodedir) {
  console.error('setup-runtime: no Node headers found for', process.version, 'in', candidates.join(', '))
  process.exit(1)
}

console.log(`setup-runtime: rebuilding better-sqlite3 for Node ${process.versions.node} (${first.message.split('\n')[0]})`)
const npmCli = process.env.npm_execpath
const npmArgs = ['rebuild', 'better-sqlite3', `--nodedir=${nodedir}`, '--foreground-scripts']
// npm_execpath is npm's own JS entry; running it with process.execPath keeps the whole rebuild on Node 22.
if (npmCli && npmCli.endsWith('.js')) {
  execFileSync(process.execPath, [npmCli, ...npmArgs], { cwd: root, stdio: 'inherit' })
} else {
  execFileSync('npm', npmArgs, { cwd: root, stdio: 'inherit' })
}

const second = addonLoads()
if (second !== true) {
  console.error('setup-runtime: better-sqlite3 still does not load:', second.message)
  process.exit(1)
}
console.log(`setup-runtime: better-sqlite3 rebuilt for Node ${process.versions.node}`)
