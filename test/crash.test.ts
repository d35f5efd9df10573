// Durability: a server process takes concurrent writes and is killed with SIGKILL mid-stream. After a restart every
// write that was acknowledged is there with its #commit event, seq has no holes, and every repo verifies. The writers
// go to several accounts: writes to one repo are serialised by its lock, so only writes to different repos share a
// group commit (Sequencer.groupTransaction), and the kill must be able to land on one.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { DidResolver } from '@atproto/identity'
import { BlockMap, verifyRepo } from '@atproto/repo'
import Database from 'better-sqlite3'
import { CID } from 'multiformats/cid'
import { decodeFrame } from '../src/protocol/frames.ts'
import { spawnServer, stopChild } from './helpers/child.ts'
import { freePort } from './helpers/pds.ts'

const WRITERS = 8
const ACCOUNTS = 4
const KILL_AFTER_ACKS = 120

describe('crash safety (kill -9)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-crash-'))
  let child: ChildProcess | undefined
  after(async () => {
    if (child) await stopChild(child, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps every acknowledged write and its event', async () => {
    const port = await freePort()
    const env = { PDS_PORT: String(port), PDS_DATA_DIRECTORY: dir, PDS_LOG_LEVEL: 'info' }
    const url = `http://localhost:${port}`
    child = (await spawnServer(env)).child
    const accounts: { agent: AtpAgent; did: string }[] = []
    for (let a = 0; a < ACCOUNTS; a++) {
      const agent = new AtpAgent({ service: url })
      const { data } = await agent.createAccount({ handle: `crash${a}.test`, email: `crash${a}@example.com`, password: 'pw' })
      accounts.push({ agent, did: data.did })
    }

    const acked = new Map<string, string>() // uri → cid (the uri names the repo)
    let failed = 0
    let killed = false
    const victim = child
    const writer = async (w: number) => {
      const { agent, did } = accounts[w % ACCOUNTS]
      for (let i = 0; !killed; i++) {
        try {
          const res = await agent.com.atproto.repo.createRecord({
            repo: did,
            collection: 'app.bsky.feed.post',
            record: { $type: 'app.bsky.feed.post', text: `writer ${w} post ${i}`, createdAt: new Date().toISOString() },
          })
          acked.set(res.data.uri, res.data.cid)
          if (acked.size >= KILL_AFTER_ACKS && !killed) {
            killed = true
            victim.kill('SIGKILL') // requests from the other writers are still in flight
          }
        } catch {
          failed += 1
          if (killed) return
        }
      }
    }
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)))
    await stopChild(victim, 'SIGKILL')
    console.log(`# acknowledged ${acked.size} writes before SIGKILL; ${failed} requests failed with the kill`)

    child = (await spawnServer(env)).child
    const reader = new AtpAgent({ service: url })
    let found = 0
    for (const [uri, cid] of acked) {
      const [, , did, , rkey] = uri.split('/')
      const res = await reader.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey })
      assert.equal(res.data.cid, cid, uri)
      found += 1
    }
    console.log(`# found ${found} of ${acked.size} acknowledged writes after restart`)
    assert.equal(found, acked.size)

    // The log: contiguous seqs, and a #commit op for every acknowledged write.
    const db = new Database(path.join(dir, 'pds.sqlite'), { readonly: true })
    try {
      const rows = db.prepare('SELECT seq, frame FROM repo_seq ORDER BY seq').all() as { seq: number; frame: Uint8Array }[]
      rows.forEach((row, i) => assert.equal(row.seq, i + 1, 'no hole in seq'))
      const opCids = new Map<string, string>()
      for (const row of rows) {
        const { header, body } = decodeFrame(row.frame) as { header: { t?: string }; body: any }
        if (header.t !== '#commit') continue
        for (const op of body.ops) opCids.set(`at://${body.repo}/${op.path}`, op.cid?.toString())
      }
      for (const [uri, cid] of acked) assert.equal(opCids.get(uri), cid, `event for ${uri}`)

      const inRepo = new Set<string>()
      for (const { did } of accounts) {
        const blocks = new BlockMap()
        for (const b of db.prepare('SELECT cid, content FROM repo_block WHERE did = ?').all(did) as { cid: string; content: Uint8Array }[]) {
          blocks.set(CID.parse(b.cid), b.content)
        }
        const root = db.prepare('SELECT cid FROM repo_root WHERE did = ?').pluck().get(did) as string
        const key = (await new DidResolver({ plcUrl: `${url}/plc`, fetch: globalThis.fetch }).resolveAtprotoData(did)).signingKey
        const verified = await verifyRepo(blocks, CID.parse(root), did, key)
        for (const c of verified.creates) inRepo.add(`at://${did}/${c.collection}/${c.rkey}`)
      }
      for (const uri of acked.keys()) assert.ok(inRepo.has(uri), `${uri} in the verified repo`)
    } finally {
      db.close()
    }
  })
})
