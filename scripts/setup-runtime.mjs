// Postinstall: give better-sqlite3 a native addon for the Node 22 runtime the project brings, built once.
//
// Why: machines here ship Node 20 + npm, and npm builds native addons for the Node that runs npm. Left alone,
// better-sqlite3's own install script compiles SQLite for Node 20, and we would then compile it again for Node 22:
// two full builds. So package.json's `allowScripts` denies better-sqlite3's install script (npm 11 honours that;
// an older npm runs it anyway, which costs time but nothing else), and this script, already running under Node 22
// (npm puts node_modules/.bin first on PATH, and the optional `node-linux-<arch>` package put Node 22 there), does
// what that install script would have done, for Node 22: a prebuilt binary if one can be fetched, else one build
// against Node 22's own headers (shipped in that same package, so nothing is downloaded from outside npm).
import { spawnSync } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const addonDir = path.join(root, 'node_modules', 'better-sqlite3')
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

/** Run a JS entry point under this Node in better-sqlite3's folder; true when it exits 0. */
function run(script, args, opts = {}) {
  const env = { ...process.env, ...opts.env }
  const res = spawnSync(process.execPath, [script, ...args], { cwd: addonDir, stdio: opts.stdio ?? 'inherit', env })
  return res.status === 0
}

const first = addonLoads()
if (first === true) {
  console.log(`setup-runtime: better-sqlite3 loads under Node ${process.versions.node}`)
  process.exit(0)
}
console.log(`setup-runtime: better-sqlite3 needs an addon for Node ${process.versions.node} (${first.message.split('\n')[0]})`)

// 1. A prebuilt binary for this exact Node, as better-sqlite3's own install script tries first. Fails in a moment
//    where GitHub is unreachable (as on our CI), so it costs nothing to try.
const prebuild = path.join(root, 'node_modules', 'prebuild-install', 'bin.js')
const fetched = existsSync(prebuild) &&
  run(prebuild, ['--runtime=node', `--target=${process.versions.node}`], { stdio: 'ignore' }) &&
  addonLoads() === true

// 2. Otherwise one build with node-gyp (npm's own copy) against this Node's headers: the platform package
//    installed by the "node" package, else the running binary's own prefix (a system Node 22 keeps them in
//    <prefix>/include/node).
if (!fetched) {
  const candidates = [
    path.join(root, 'node_modules', `node-${process.platform}-${process.arch}`),
    path.resolve(path.dirname(process.execPath), '..'),
  ]
  const nodedir = candidates.find((dir) => existsSync(path.join(dir, 'include/node/node_version.h')))
  if (!nodedir) {
    console.error('setup-runtime: no Node headers found for', process.version, 'in', candidates.join(', '))
    process.exit(1)
  }
  // npm tells its scripts where its node-gyp is; run by hand, find it beside the npm on PATH.
  const npmOnPath = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'npm')).find(existsSync)
  const gyp = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'),
    npmOnPath && path.join(path.dirname(realpathSync(npmOnPath)), '../node_modules/node-gyp/bin/node-gyp.js'),
  ].find((p) => p && p.endsWith('.js') && existsSync(p))
  if (!gyp) {
    console.error('setup-runtime: cannot find npm\'s node-gyp; run this through `npm install` or `npm rebuild`')
    process.exit(1)
  }
  console.log(`setup-runtime: building better-sqlite3 for Node ${process.versions.node} against ${nodedir}`)
  const jobs = String(Math.max(1, availableParallelism()))
  // npm hands scripts its own `nodedir` setting (Debian's npm: /usr, i.e. the system Node 20's headers) as
  // npm_config_nodedir, which node-gyp prefers over its --nodedir flag: so set it there.
  if (!run(gyp, ['rebuild', '--release', `--jobs=${jobs}`], { env: { npm_config_nodedir: nodedir } })) {
    console.error('setup-runtime: node-gyp failed to build better-sqlite3 (a C/C++ compiler and python3 are needed)')
    process.exit(1)
  }
}

const second = addonLoads()
if (second !== true) {
  console.error('setup-runtime: better-sqlite3 still does not load:', second.message)
  process.exit(1)
}
console.log(`setup-runtime: better-sqlite3 ${fetched ? 'installed (prebuilt)' : 'built'} for Node ${process.versions.node}`)
