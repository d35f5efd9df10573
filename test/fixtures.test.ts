// A fresh clone runs the whole suite: the vendored vectors are intact, and nothing in the code or the tests reads a
// path outside the repository (such as the shared folder that only our own CI has beside the clone).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { INTEROP_DIR } from './helpers/fixtures.ts'

const REPO = path.resolve(import.meta.dirname, '..')
const CODE_DIRS = ['src', 'test', 'bench', 'scripts']

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs|js)$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name))
}

describe('fixtures', () => {
  it('the vendored interop vectors match their checksums, with the CC0 licence beside them', () => {
    const sums = readFileSync(path.join(INTEROP_DIR, 'SHA256SUMS'), 'utf8').trim().split('\n')
    const files = sums.map((line) => {
      const [sum, file] = line.split(/\s+/)
      const actual = createHash('sha256').update(readFileSync(path.join(INTEROP_DIR, file))).digest('hex')
      assert.equal(actual, sum, `${file} differs from the upstream copy`)
      return file
    })
    assert.ok(files.includes('LICENSE-CC0'))
    assert.ok(files.length >= 10, `only ${files.length} files listed`)
  })

  it('no path that the code or the tests resolve from their own folder leaves the repository', () => {
    // path.resolve/join(import.meta.dirname, '<literal>'…) and new URL('<literal>', import.meta.url)
    const rel = /(?:resolve|join)\(\s*import\.meta\.dirname\s*,\s*((?:'[^']*'\s*,?\s*)+)\)|new URL\(\s*'([^']*)'\s*,\s*import\.meta\.url/g
    let checked = 0
    for (const file of CODE_DIRS.flatMap((d) => filesUnder(path.join(REPO, d)))) {
      const text = readFileSync(file, 'utf8')
      assert.doesNotMatch(text, /\.\.\/shared\b/, `${path.relative(REPO, file)} reads the shared folder beside the clone`)
      for (const m of text.matchAll(rel)) {
        const parts = m[1] ? [...m[1].matchAll(/'([^']*)'/g)].map((p) => p[1]) : [m[2]]
        const target = path.resolve(path.dirname(file), ...parts)
        assert.ok(target === REPO || target.startsWith(REPO + path.sep), `${path.relative(REPO, file)}: ${m[0]} → ${target}`)
        checked += 1
      }
    }
    assert.ok(checked >= 3, `found only ${checked} relative paths to check; the pattern has gone stale`)
  })
})
