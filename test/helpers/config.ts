// Config assertions shared by the suites that own a group of variables.
import assert from 'node:assert/strict'
import { ConfigError, parseConfig } from '../../src/config/index.ts'

/** parseConfig(env) refuses with a ConfigError whose one line starts with the variable's name (`NAME: …`). */
export function assertConfigRefuses(env: Record<string, string>, name: string): void {
  assert.throws(
    () => parseConfig(env),
    (err: Error) => err instanceof ConfigError && err.message.startsWith(`${name}: `),
    `${name}=${env[name]} should be refused, naming the variable`,
  )
}
