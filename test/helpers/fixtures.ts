// Where test fixtures live: inside the repository, so a fresh clone runs the whole suite with nothing beside it.
import { readFileSync } from 'node:fs'
import path from 'node:path'

/** The vendored atproto interop vectors (test/fixtures/interop, CC0). */
export const INTEROP_DIR = path.resolve(import.meta.dirname, '../fixtures/interop')

/** A vendored interop file as text, by its path in the upstream layout (e.g. `syntax/did_syntax_valid.txt`). */
export function interopText(file: string): string {
  return readFileSync(path.join(INTEROP_DIR, file), 'utf8')
}

/** A vendored interop JSON file, parsed. */
export function interopJson<T>(file: string): T {
  return JSON.parse(interopText(file)) as T
}
