// `npm start`'s entry point as a user runs it: no config but a port and a data directory, embedded PLC directory.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { DidResolver } from '@atproto/identity'
import * as plc from '@did-plc/lib'
import { spawnServer, stopChild as stop } from './helpers/child.ts'
import { freePort } from './helpers/pds.ts'

describe('npm start (embedded PLC, zero config)', () => {
  let dir: string
  let port: number
  let child: ChildProcess
  let url: string
  let startupMs: number
  let listen: string

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-start-'))
    port = await freePort()
    const started = await spawnServer({ PDS_PORT: String(port), PDS_DATA_DIRECTORY: dir })
    child = started.child
    startupMs = started.listening.startupMs
    listen = started.listening.listen
    url = `http://localhost:${port}`
  })
  after(async () => {
    if (child) await stop(child)
    rmSync(dir, { recursive: true, force: true })
  })

  it('reports its startup time and answers _health', async () => {
    assert.equal(typeof startupMs, 'number')
    // Dev mode is for this machine: the listening line says so.
    assert.equal(listen, `127.0.0.1:${port} (this machine only)`)
    console.log(`# startup to listening: ${startupMs} ms`)
    const res = await fetch(`${url}/xrpc/_health`)
    assert.equal(res.status, 200)
    assert.ok(((await res.json()) as { version?: string }).version)
  })

  it('creates an account whose DID resolves through the embedded directory to this PDS', async () => {
    const agent = new AtpAgent({ service: url })
    const res = await agent.createAccount({ handle: 'carol.test', email: 'carol@example.com', password: 'hunter22' })
    const did = res.data.did

    const login = new AtpAgent({ service: url })
    await login.login({ identifier: 'carol.test', password: 'hunter22' })
    await login.sessionManager.refreshSession()
    assert.equal(login.session?.did, did)

    const resolver = new DidResolver({ plcUrl: `${url}/plc`, fetch: globalThis.fetch })
    const data = await resolver.resolveAtprotoData(did)
    assert.equal(data.pds, url)
    assert.equal(data.handle, 'carol.test')
    const ops = await new plc.Client(`${url}/plc`).getOperationLog(did)
    assert.equal(ops.length, 1)
  })

  it('stops cleanly on SIGTERM and keeps its data for the next start', async () => {
    assert.equal(await stop(child), 0)
    const again = await spawnServer({ PDS_PORT: String(port), PDS_DATA_DIRECTORY: dir })
    child = again.child
    const login = new AtpAgent({ service: url })
    const res = await login.login({ identifier: 'carol.test', password: 'hunter22' })
    assert.equal(res.data.handle, 'carol.test')
  })
})
