// Config: defaults, production requirements, one-line errors, and generated local secrets.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { CONFIG_VARIABLES, ConfigError, parseConfig } from '../src/config/index.ts'
import { PRODUCTION_SECRETS } from './helpers/config.ts'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aurora-config-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const prodSecrets = PRODUCTION_SECRETS

describe('config', () => {
  it('has working localhost defaults with nothing set', () => {
    const dir = path.join(tmp, 'defaults')
    const cfg = parseConfig({ PDS_DATA_DIRECTORY: dir })
    assert.equal(cfg.port, 3000)
    assert.equal(cfg.hostname, 'localhost')
    assert.equal(cfg.publicUrl, 'http://localhost:3000')
    assert.equal(cfg.embeddedPlc, true)
    assert.equal(cfg.didPlcUrl, 'http://localhost:3000/plc')
    assert.deepEqual(cfg.serviceHandleDomains, ['.test'])
    assert.equal(cfg.devMode, true)
    assert.equal(cfg.inviteRequired, false)
    assert.equal(cfg.federation.enabled, false)
    assert.equal(cfg.federation.autoStream, false)
    assert.equal(cfg.federation.firehoseEnabled, true)
    assert.equal(cfg.federation.crawlEnabled, true)
    assert.deepEqual(cfg.federation.relayUrls, ['https://bsky.network'])
    assert.ok(Object.isFrozen(cfg))
  })

  it('generates local secrets once, mode 0600, and keeps them', () => {
    const dir = path.join(tmp, 'secrets')
    const a = parseConfig({ PDS_DATA_DIRECTORY: dir })
    const b = parseConfig({ PDS_DATA_DIRECTORY: dir })
    assert.deepEqual(a.secrets, b.secrets)
    assert.match(a.secrets.plcRotationKeyHex, /^[0-9a-f]{64}$/)
    const file = path.join(dir, 'secrets.json')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).jwtSecret, a.secrets.jwtSecret)
  })

  it('uses production defaults for a real hostname and requires its secrets', () => {
    assert.throws(() => parseConfig({ PDS_HOSTNAME: 'pds.example.com' }), (err: Error) => {
      assert.ok(err instanceof ConfigError)
      assert.match(err.message, /^PDS_JWT_SECRET: required/)
      return true
    })
    const cfg = parseConfig({ PDS_HOSTNAME: 'PDS.Example.com', ...prodSecrets, PDS_FEDERATION_ENABLED: 'true' })
    assert.equal(cfg.hostname, 'pds.example.com')
    assert.equal(cfg.publicUrl, 'https://pds.example.com')
    assert.equal(cfg.serviceDid, 'did:web:pds.example.com')
    assert.equal(cfg.didPlcUrl, 'https://plc.directory')
    assert.equal(cfg.embeddedPlc, false)
    assert.deepEqual(cfg.serviceHandleDomains, ['.pds.example.com'])
    assert.equal(cfg.devMode, false)
    assert.equal(cfg.federation.autoStream, true, 'auto stream follows the master switch')
  })

  it('wants an admin password of at least 16 characters in production', () => {
    const prod = { PDS_HOSTNAME: 'pds.example.com', ...prodSecrets }
    assert.throws(
      () => parseConfig({ ...prod, PDS_ADMIN_PASSWORD: 'x' }),
      (err: Error) => err instanceof ConfigError && /^PDS_ADMIN_PASSWORD: must be at least 16 characters/.test(err.message),
    )
    assert.throws(() => parseConfig({ ...prod, PDS_ADMIN_PASSWORD: 'f'.repeat(15) }), { message: /^PDS_ADMIN_PASSWORD: / })
    assert.equal(parseConfig({ ...prod, PDS_ADMIN_PASSWORD: 'f'.repeat(16) }).secrets.adminPassword, 'f'.repeat(16))
    // Dev mode listens on this machine only; its generated password is long anyway.
    const dev = parseConfig({ PDS_DATA_DIRECTORY: path.join(tmp, 'dev-admin'), PDS_ADMIN_PASSWORD: 'dev' })
    assert.equal(dev.secrets.adminPassword, 'dev')
    assert.ok(parseConfig({ PDS_DATA_DIRECTORY: path.join(tmp, 'dev-generated') }).secrets.adminPassword.length >= 16)
  })

  it('listens on 127.0.0.1 in dev mode and on every interface in production, unless PDS_BIND_HOST says', () => {
    const dir = path.join(tmp, 'bind')
    assert.equal(parseConfig({ PDS_DATA_DIRECTORY: dir }).bindHost, '127.0.0.1')
    assert.equal(parseConfig({ PDS_DATA_DIRECTORY: dir, PDS_BIND_HOST: '0.0.0.0' }).bindHost, '0.0.0.0')
    const prod = { PDS_HOSTNAME: 'pds.example.com', ...prodSecrets }
    assert.equal(parseConfig(prod).bindHost, undefined)
    assert.equal(parseConfig({ ...prod, PDS_DEV_MODE: 'true' }).bindHost, '127.0.0.1', 'dev mode on any hostname')
    assert.equal(parseConfig({ ...prod, PDS_BIND_HOST: '::' }).bindHost, '::')
  })

  it('accepts PDS_CRAWLERS as an alias of PDS_FEDERATION_RELAY_URLS', () => {
    const dir = path.join(tmp, 'alias')
    const cfg = parseConfig({ PDS_DATA_DIRECTORY: dir, PDS_CRAWLERS: 'https://relay.one, https://relay.two/' })
    assert.deepEqual(cfg.federation.relayUrls, ['https://relay.one', 'https://relay.two'])
  })

  it('takes PDS_DEV_WELL_KNOWN_ORIGIN in dev mode only', () => {
    const dir = path.join(tmp, 'well-known')
    const cfg = parseConfig({ PDS_DATA_DIRECTORY: dir, PDS_DEV_WELL_KNOWN_ORIGIN: 'http://127.0.0.1:8080/' })
    assert.equal(cfg.devWellKnownOrigin, 'http://127.0.0.1:8080')
    assert.equal(parseConfig({ PDS_DATA_DIRECTORY: dir }).devWellKnownOrigin, undefined)
    assert.throws(
      () =>
        parseConfig({
          ...prodSecrets,
          PDS_DATA_DIRECTORY: dir,
          PDS_HOSTNAME: 'pds.example.com',
          PDS_DEV_WELL_KNOWN_ORIGIN: 'http://127.0.0.1:8080',
        }),
      (err: Error) => err instanceof ConfigError && /^PDS_DEV_WELL_KNOWN_ORIGIN: only allowed in dev mode/.test(err.message),
    )
  })

  it('forwards to Bluesky\'s services in production and to nothing by default on localhost', () => {
    const prod = parseConfig({ PDS_HOSTNAME: 'pds.example.com', ...prodSecrets }).proxy
    assert.deepEqual(prod.services, {
      appView: { url: 'https://api.bsky.app', did: 'did:web:api.bsky.app' },
      chat: { url: 'https://api.bsky.chat', did: 'did:web:api.bsky.chat' },
      modService: { url: 'https://mod.bsky.app', did: 'did:plc:ar7c4by46qjdydhdevvrndac' },
    })
    assert.equal(prod.ssrfGuard, true)
    assert.equal(prod.timeoutMs, 10_000)
    assert.equal(prod.maxRequestBytes, 1024 * 1024)
    const dev = parseConfig({ PDS_DATA_DIRECTORY: path.join(tmp, 'proxy-dev') }).proxy
    assert.deepEqual(dev.services, {})
    assert.equal(dev.ssrfGuard, false, 'dev mode talks to services on this machine')
    const own = parseConfig({
      PDS_DATA_DIRECTORY: path.join(tmp, 'proxy-own'),
      PDS_BSKY_APP_VIEW_URL: 'http://localhost:2584/',
      PDS_BSKY_APP_VIEW_DID: 'did:web:localhost%3A2584',
      PDS_PROXY_SSRF_GUARD: 'true',
      PDS_PROXY_TIMEOUT_SECONDS: '2.5',
    }).proxy
    assert.deepEqual(own.services, { appView: { url: 'http://localhost:2584', did: 'did:web:localhost%3A2584' } })
    assert.equal(own.ssrfGuard, true)
    assert.equal(own.timeoutMs, 2500)
    // Bluesky's image CDN goes with Bluesky's AppView only.
    assert.equal(prod.appViewCdnUrlPattern, 'https://cdn.bsky.app/img/%s/plain/%s/%s@jpeg')
    assert.equal(dev.appViewCdnUrlPattern, undefined)
    assert.equal(own.appViewCdnUrlPattern, undefined)
    assert.throws(
      () => parseConfig({ PDS_DATA_DIRECTORY: path.join(tmp, 'cdn'), PDS_BSKY_APP_VIEW_CDN_URL_PATTERN: 'https://cdn.example/%s' }),
      (err: Error) => err instanceof ConfigError && /^PDS_BSKY_APP_VIEW_CDN_URL_PATTERN: expected an http\(s\) URL with three %s/.test(err.message),
    )
  })

  it('wants a proxied service\'s URL and DID together', () => {
    const dir = path.join(tmp, 'proxy-pair')
    assert.throws(
      () => parseConfig({ PDS_DATA_DIRECTORY: dir, PDS_CHAT_URL: 'https://chat.example' }),
      (err: Error) => err instanceof ConfigError && err.message === 'PDS_CHAT_DID: required when PDS_CHAT_URL is set',
    )
    assert.throws(
      () => parseConfig({ PDS_DATA_DIRECTORY: dir, PDS_MOD_SERVICE_DID: 'did:plc:ar7c4by46qjdydhdevvrndac' }),
      (err: Error) => err instanceof ConfigError && err.message === 'PDS_MOD_SERVICE_URL: required when PDS_MOD_SERVICE_DID is set',
    )
  })

  for (const [name, value, pattern] of [
    ['PDS_BSKY_APP_VIEW_URL', 'https://api.example/xrpc', /^PDS_BSKY_APP_VIEW_URL: .*give the origin only/],
    ['PDS_BSKY_APP_VIEW_DID', 'api.bsky.app', /^PDS_BSKY_APP_VIEW_DID: expected a DID/],
    ['PDS_PROXY_TIMEOUT_SECONDS', '0', /^PDS_PROXY_TIMEOUT_SECONDS: /],
    ['PDS_PROXY_MAX_REQUEST_BYTES', 'lots', /^PDS_PROXY_MAX_REQUEST_BYTES: expected a number of bytes/],
    ['PDS_PROXY_SSRF_GUARD', 'sometimes', /^PDS_PROXY_SSRF_GUARD: expected true or false/],
    ['PDS_PORT', 'eighty', /^PDS_PORT: /],
    ['PDS_PORT', '70000', /^PDS_PORT: /],
    ['PDS_PUBLIC_URL', 'ftp://x', /^PDS_PUBLIC_URL: /],
    ['PDS_INVITE_REQUIRED', 'maybe', /^PDS_INVITE_REQUIRED: expected true or false/],
    ['PDS_FEDERATION_RELAY_URLS', 'https://ok.example, not a url', /^PDS_FEDERATION_RELAY_URLS: /],
    ['PDS_SERVICE_HANDLE_DOMAINS', 'example.com', /^PDS_SERVICE_HANDLE_DOMAINS: .*start with a dot/],
    ['PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX', 'xyz', /^PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: /],
    ['PDS_LOG_LEVEL', 'loud', /^PDS_LOG_LEVEL: /],
    ['PDS_BIND_HOST', 'localhost', /^PDS_BIND_HOST: expected an IP address/],
    ['PDS_DEV_WELL_KNOWN_ORIGIN', 'http://127.0.0.1:8080/sites', /^PDS_DEV_WELL_KNOWN_ORIGIN: .*origin only/],
  ] as const) {
    it(`names the variable for a bad ${name}=${value}`, () => {
      assert.throws(
        () => parseConfig({ PDS_DATA_DIRECTORY: path.join(tmp, 'bad'), [name]: value }),
        (err: Error) => err instanceof ConfigError && pattern.test(err.message),
      )
    })
  }

  it('the server exits 1 with one line on a bad value', () => {
    const res = spawnSync(process.execPath, ['src/index.ts'], {
      env: { PATH: process.env.PATH, PDS_PORT: 'eighty', PDS_DATA_DIRECTORY: path.join(tmp, 'exit') },
      encoding: 'utf8',
      timeout: 20_000,
    })
    assert.equal(res.status, 1)
    const lines = res.stderr.trim().split('\n')
    assert.equal(lines.length, 1, res.stderr)
    assert.match(lines[0], /PDS_PORT/)
  })
})

describe('every variable is documented', () => {
  const root = path.resolve(import.meta.dirname, '..')
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8')
  const example = readFileSync(path.join(root, '.env.example'), 'utf8')

  it('in the README and in .env.example', () => {
    assert.ok(CONFIG_VARIABLES.length > 50, 'the list is read from the config schema')
    const undocumented = CONFIG_VARIABLES.filter((v) => !new RegExp(`\`${v}\``).test(readme) && !readme.includes(`\`${v}\`,`))
    assert.deepEqual(undocumented, [], 'each in the README, in backticks')
    const missing = CONFIG_VARIABLES.filter((v) => !new RegExp(`^#? ?${v}=`, 'm').test(example))
    assert.deepEqual(missing, [], 'each in .env.example, set or commented out')
  })
})
