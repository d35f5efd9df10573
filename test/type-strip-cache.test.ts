// The cache of stripped types (src/type-strip-cache.js), in a small package of its own in a temporary directory (a
// copy of the hook beside two .ts modules), run as `npm start` runs the server: `node --import
// ./src/type-strip-cache.js src/main.ts`. A warm start must not load Node's stripper at all, a changed file must never
// be served stale, and what runs must be what Node's own stripping gives: same errors, same stack positions.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'

const HOOK = path.resolve(import.meta.dirname, '../src/type-strip-cache.js')

const MAIN = `import { value } from './dep.ts'
type Report = { value: number; stripperLoaded: boolean }
const report: Report = {
  value: value(),
  // Node's own stripper (amaro) shows in the internal modules loaded once anything was stripped in this process.
  stripperLoaded: process.moduleLoadList.some((m: string) => m.includes('amaro')),
}
console.log(JSON.stringify(report))
`
const dep = (n: number) => `export function value(): number {\n  const n: number = ${n}\n  return n\n}\n`
const THROWS = `interface Shape { side: number }
const s: Shape = { side: 2 }
export function boom(): never {
  throw new Error('boom ' + s.side)
}
boom()
`

describe('type-strip cache', () => {
  let dir: string
  let cache: string
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-strip-cache-'))
    mkdirSync(path.join(dir, 'src'))
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
    copyFileSync(HOOK, path.join(dir, 'src/type-strip-cache.js'))
    writeFileSync(path.join(dir, 'src/main.ts'), MAIN)
    writeFileSync(path.join(dir, 'src/dep.ts'), dep(1))
    writeFileSync(path.join(dir, 'src/throws.ts'), THROWS)
    cache = path.join(dir, 'compile-cache')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const run = (file: string, opts: { hook?: boolean; env?: Record<string, string> } = {}) => {
    const args = opts.hook === false ? [file] : ['--import', './src/type-strip-cache.js', file]
    const res = spawnSync(process.execPath, args, {
      cwd: dir,
      env: { PATH: process.env.PATH, NODE_COMPILE_CACHE: cache, ...opts.env },
      encoding: 'utf8',
      timeout: 20_000,
    })
    return { status: res.status, stdout: res.stdout, stderr: res.stderr }
  }
  const report = (file = 'src/main.ts') => {
    const res = run(file)
    assert.equal(res.status, 0, res.stderr)
    assert.equal(res.stderr, '', 'no warning printed')
    return JSON.parse(res.stdout) as { value: number; stripperLoaded: boolean }
  }
  const entries = () => readdirSync(cache, { recursive: true }).filter((f) => String(f).includes('aurora-strip-types' + path.sep))

  it('strips on the first start, then serves every module from the cache without loading the stripper', () => {
    assert.deepEqual(report(), { value: 1, stripperLoaded: true })
    assert.equal(entries().length, 2, 'main.ts and dep.ts')
    assert.deepEqual(report(), { value: 1, stripperLoaded: false })
  })

  it('never serves a changed file stale', () => {
    writeFileSync(path.join(dir, 'src/dep.ts'), dep(2))
    assert.deepEqual(report(), { value: 2, stripperLoaded: true })
    assert.deepEqual(report(), { value: 2, stripperLoaded: false })
    // Back to an earlier version: stripped again (one entry per file, which holds the newest), and served after.
    writeFileSync(path.join(dir, 'src/dep.ts'), dep(1))
    assert.deepEqual(report(), { value: 1, stripperLoaded: true })
    assert.deepEqual(report(), { value: 1, stripperLoaded: false })
    assert.equal(entries().length, 2, 'still one entry per file')
  })

  it('never runs an entry whose code is not what was stored (cut short by a crash, or altered)', () => {
    assert.deepEqual(report(), { value: 1, stripperLoaded: false }, 'warm')
    const strips = readdirSync(cache).map((d) => path.join(cache, d, 'aurora-strip-types')).find((d) => existsSync(d))!
    const depEntry = readdirSync(strips)
      .map((f) => path.join(strips, f))
      .find((f) => readFileSync(f, 'utf8').includes('function value'))!
    const text = readFileSync(depEntry, 'utf8')
    // The stamp line (the source's hash) kept, the code after it changed: as a write cut short, or a tampered file.
    const stamp = text.slice(0, text.indexOf('\n') + 1)
    for (const altered of [text.replace(/const n\s*=\s*1/, 'const n = 99'), text.slice(0, Math.floor(text.length / 2)), stamp]) {
      writeFileSync(depEntry, altered)
      assert.deepEqual(report(), { value: 1, stripperLoaded: true }, 'stripped again')
      assert.deepEqual(report(), { value: 1, stripperLoaded: false }, 'and cached again')
    }
  })

  it('runs what Node runs: the same stack positions, warm or cold, as without the cache', () => {
    const frame = (stderr: string) => /throws\.ts:\d+:\d+/.exec(stderr)?.[0]
    const plain = run('src/throws.ts', { hook: false })
    const cold = run('src/throws.ts')
    const warm = run('src/throws.ts')
    assert.equal(frame(plain.stderr), 'throws.ts:4:9')
    for (const res of [cold, warm]) {
      assert.notEqual(res.status, 0)
      assert.match(res.stderr, /Error: boom 2/)
      assert.equal(frame(res.stderr), frame(plain.stderr))
    }
  })

  it("leaves bad syntax to Node's own error", () => {
    writeFileSync(path.join(dir, 'src/bad.ts'), 'const x: number = = 1\n')
    const res = run('src/bad.ts')
    assert.notEqual(res.status, 0)
    assert.match(res.stderr, /ERR_INVALID_TYPESCRIPT_SYNTAX/)
  })

  it('uses no cache directory that others may write to (its entries are code this process runs)', () => {
    const strips = path.join(readdirSync(cache).map((d) => path.join(cache, d)).find((d) => existsSync(path.join(d, 'aurora-strip-types')))!, 'aurora-strip-types')
    assert.deepEqual(report(), { value: 1, stripperLoaded: false }, 'warm before')
    chmodSync(strips, 0o777)
    try {
      assert.deepEqual(report(), { value: 1, stripperLoaded: true }, 'world-writable: not used')
    } finally {
      chmodSync(strips, 0o700)
    }
    assert.deepEqual(report(), { value: 1, stripperLoaded: false }, 'private again: used')
  })

  it('uses no cache under a parent directory others may write to (they could swap the cache for theirs later)', () => {
    // Modules are still loaded long after startup (route handlers on their first call): a parent someone else may
    // write to (without the sticky bit) lets them rename our directory away after the checks and put theirs there.
    const open = path.join(dir, 'shared')
    mkdirSync(open)
    const env = { NODE_COMPILE_CACHE: path.join(open, 'compile-cache') }
    const start = () => {
      const res = run('src/main.ts', { env })
      assert.equal(res.status, 0, res.stderr)
      return JSON.parse(res.stdout) as { value: number; stripperLoaded: boolean }
    }
    chmodSync(open, 0o777)
    start()
    assert.equal(start().stripperLoaded, true, 'a world-writable parent: not used')
    chmodSync(open, 0o1777)
    start()
    assert.equal(start().stripperLoaded, false, 'sticky, as /tmp: used')
  })

  it('caches nothing, and still runs, without a compile cache', () => {
    const before = entries().length
    writeFileSync(path.join(dir, 'src/dep.ts'), dep(3))
    const res = run('src/main.ts', { env: { NODE_DISABLE_COMPILE_CACHE: '1' } })
    assert.equal(res.status, 0, res.stderr)
    assert.deepEqual(JSON.parse(res.stdout), { value: 3, stripperLoaded: true })
    assert.equal(entries().length, before)
  })
})
