// Node 22 strips the types of every .ts module it loads, at every start, with amaro (SWC compiled to WebAssembly): for
// this server about 0.7 MB of TypeScript, half a second of CPU and ~40 MiB of WebAssembly memory never given back.
// Later Node versions keep the stripped output in their compile cache (nodejs/node#56629, not in Node 22); this does
// the same here. A load hook answers each .ts module of this package with the JavaScript stripped at an earlier start
// from the same contents, and strips only what is new or changed, with Node's own stripTypeScriptTypes (the loader's
// code path: the same output, positions kept, the same `//# sourceURL`). One entry per file, overwritten when the file
// changes (its first line is the hash of the source it came from, its second that of the code), beside Node's
// compile cache, whose directory is already per Node version; without a compile cache (NODE_DISABLE_COMPILE_CACHE, unwritable) nothing is cached.
//
// Plain JavaScript on purpose: loaded with `--import` (package.json's start script), it serves src/index.ts itself
// from the cache, so that a start with nothing changed never loads the stripper. src/index.ts also installs it, for
// `node src/index.ts` (the Docker image), where only the entry file is stripped the slow way. Installing twice is a
// no-op.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs'
import module from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const INSTALLED = Symbol.for('aurora-locus.type-strip-cache')
/** This package's root: only its own files are cached (Node refuses to strip anything under node_modules). */
const ROOT = `${pathToFileURL(path.resolve(import.meta.dirname, '..')).href}/`

/**
 * Install the hook once per process. Returns the cache directory, or undefined when nothing is cached: no compile
 * cache, or a Node that transforms rather than strips types (--experimental-transform-types) or adds source maps
 * (--enable-source-maps), whose output the loader would build differently.
 * @returns {string | undefined}
 */
export function installTypeStripCache() {
  const g = /** @type {Record<symbol, string | undefined>} */ (/** @type {unknown} */ (globalThis))
  if (INSTALLED in g) return g[INSTALLED]
  g[INSTALLED] = undefined
  module.enableCompileCache()
  const compileCache = module.getCompileCacheDir()
  if (!compileCache || process.features.typescript !== 'strip' || process.sourceMapsEnabled) return undefined
  let dir = path.join(compileCache, 'aurora-strip-types')
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    // The real path, used from here on: a symlink on the way could be pointed elsewhere after the checks below, and
    // modules are still loaded long after startup (route handlers on their first call).
    dir = realpathSync(dir)
  } catch {
    return undefined
  }
  // Its entries are code this process runs: the default directory is under /tmp, and a directory (or a parent) that
  // someone else owns or may write to could hold their code instead of ours. Then nothing is cached.
  if (!ownedAndPrivate(dir) || !ownedAndPrivate(path.dirname(dir)) || !safeAncestors(path.dirname(dir))) return undefined
  g[INSTALLED] = dir
  const decoder = new TextDecoder()
  module.registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context)
      if (loaded.format !== 'module-typescript' || !url.startsWith(ROOT) || url.includes('/node_modules/')) return loaded
      const filename = fileURLToPath(url)
      // The loader decodes sources this way too (a BOM dropped).
      const source = typeof loaded.source === 'string' ? loaded.source : decoder.decode(loaded.source)
      // One entry per file, overwritten when it changes: its first line is the hash of the source it was stripped from.
      const entry = path.join(dir, sha256(filename))
      const stamp = `${sha256(source)}\n`
      let code = cached(entry, stamp)
      if (code === undefined) {
        try {
          code = strip(source, filename)
        } catch {
          // Bad syntax: Node's own stripping reports it, with its snippet.
          return loaded
        }
        save(entry, stamp + sha256(code) + '\n' + code)
      }
      return { format: 'module', source: code, shortCircuit: true }
    },
  })
  return dir
}

/** What the loader would run for `source`: Node's stripping, quiet about being experimental (the loader's is). */
function strip(source, filename) {
  const emitWarning = process.emitWarning
  process.emitWarning = /** @type {typeof process.emitWarning} */ (
    (warning, ...rest) => {
      const text = typeof warning === 'string' ? warning : warning.message
      if (!text.startsWith('stripTypeScriptTypes')) emitWarning.call(process, warning, ...rest)
    }
  )
  try {
    return module.stripTypeScriptTypes(source, { mode: 'strip', sourceUrl: filename })
  } finally {
    process.emitWarning = emitWarning
  }
}

/**
 * A directory of this user's that no one else may write to: not world-writable, and group-writable only for the
 * user's own primary group (a umask of 002 with one group per user). On Windows, where modes say little, any.
 */
function ownedAndPrivate(dir) {
  if (process.getuid === undefined || process.getgid === undefined) return true
  try {
    const st = statSync(dir)
    const groupOk = (st.mode & 0o020) === 0 || st.gid === process.getgid()
    return st.uid === process.getuid() && (st.mode & 0o002) === 0 && groupOk
  } catch {
    return false
  }
}

/**
 * Every directory above `dir` is one no one else can rename `dir` (or a parent) out of and put theirs in its place:
 * owned by this user or root, and not writable by others unless sticky (as /tmp: only an entry's owner may move it).
 */
function safeAncestors(dir) {
  if (process.getuid === undefined || process.getgid === undefined) return true
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    try {
      const st = statSync(d)
      const sticky = (st.mode & 0o1000) !== 0
      const groupOk = (st.mode & 0o020) === 0 || sticky || st.gid === process.getgid()
      if ((st.uid !== process.getuid() && st.uid !== 0) || ((st.mode & 0o002) !== 0 && !sticky) || !groupOk) return false
    } catch {
      return false
    }
    if (path.dirname(d) === d) return true
  }
}

function sha256(text) {
  return createHash('sha256').update(text).digest('hex')
}

/**
 * The code stored in `entry` if it was stripped from the source `stamp` names, and is whole: the second line is the
 * code's own hash, so an entry cut short (a crash before the rename's data reached the disk) or altered is stripped
 * again, never run.
 */
function cached(entry, stamp) {
  let text
  try {
    text = readFileSync(entry, 'utf8')
  } catch {
    return undefined
  }
  if (!text.startsWith(stamp)) return undefined
  const start = stamp.length + 65 // a hex SHA-256 and its newline
  const code = text.slice(start)
  return text.length >= start && text.slice(stamp.length, start - 1) === sha256(code) ? code : undefined
}

/** Written whole or not at all (several servers or tests may start at once): a temporary file, then a rename. */
function save(entry, code) {
  const tmp = `${entry}.${process.pid}.tmp`
  try {
    writeFileSync(tmp, code)
    renameSync(tmp, entry)
  } catch {
    // Only a cache: the next start strips this file again.
  }
}

installTypeStripCache()
