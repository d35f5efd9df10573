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

/** The five secrets a server with a real PDS_HOSTNAME requires: fixed, test-only values. */
export const PRODUCTION_SECRETS: Readonly<Record<string, string>> = Object.freeze({
  PDS_JWT_SECRET: 'a-long-enough-jwt-secret',
  PDS_ADMIN_PASSWORD: 'a-long-enough-admin-password',
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'aa'.repeat(32),
  PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX: '11'.repeat(32),
  PDS_OAUTH_DPOP_SECRET: '22'.repeat(32),
})
