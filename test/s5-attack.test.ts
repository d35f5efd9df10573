// Hostile checks of the write path's speed work (group commit, repo heads in memory, the commit builder): many repos
// written at once with writes failing among them, every acknowledged commit checked on the log, on a live firehose,
// in getRepo, and against its predecessor.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import * as cbor from '@ipld/dag-cbor'
import { createUser, xrpc, startServers, stopServers, type TestPds } from './helpers/pds.ts'
import type { TestPlc } from './helpers/plc.ts'
import { checkCommitEvent, events, signingDidKey, verifyStoredRepo } from './helpers/repo-check.ts'
import { FirehoseClient } from './helpers/firehose-client.ts'
import { MemoryBlockstore, Repo } from '@atproto/repo'
import { Secp256k1Keypair } from '@atproto/crypto'
import { TID } from '@atproto/common-web'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { buildCommit, type TreeChange } from '../src/repo/commit-builder.ts'
import { RepoHeads } from '../src/repo/repo-heads.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openDatabase } from '../src/db/index.ts'
import { Sequencer } from '../src/sequencer/sequencer.ts'

type User = Awaited<ReturnType<typeof createUser>>
const COLL = 'app.bsky.feed.post'
const post = (text: string) => ({ $type: COLL, text, createdAt: '2026-11-30T00:00:00.000Z' })

async function getRepoBytes(pds: TestPds, did: string): Promise<Uint8Array> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${did}`)
  assert.equal(res.status, 200)
  return new Uint8Array(await res.arrayBuffer())
}

describe('s5 attack: group commit, repo heads, commit builder', () => {
  let plc: TestPlc
  let pds: TestPds
  before(async () => {
    ;({ plc, pds } = await startServers())
  })
  after(async () => {
    await stopServers({ plc, pds })
  })

  const bearer = (u: User) => ({ authorization: `Bearer ${u.agent.session!.accessJwt}` })
  /** A write through raw XRPC; on 200 its commit is recorded as acknowledged. */
  async function write(u: User, nsid: string, body: Record<string, unknown>, acked: Map<string, string[]>) {
    const res = await xrpc(pds, nsid, { body: { repo: u.did, ...body }, headers: bearer(u) })
    assert.ok(res.status === 200 || res.status === 400, `${nsid}: ${res.status} ${JSON.stringify(res.body)}`)
    if (res.status === 200 && res.body.commit) {
      const list = acked.get(u.did) ?? []
      list.push(res.body.commit.cid)
      acked.set(u.did, list)
    }
    return res
  }

  /**
   * Every event after `from`: seqs contiguous; for each user, the #commit events are exactly the acknowledged
   * commits in order, each invertible onto prevData, chained (since = the previous rev, prevData = the previous
   * commit's data); getRepo verifies at the last one and holds the records listRecords lists; the stored repo verifies.
   */
  async function checkAll(users: User[], from: number, acked: Map<string, string[]>, contiguous = true) {
    const evs = events(pds, from)
    if (contiguous) evs.forEach((e, i) => assert.equal(e.seq, from + 1 + i, 'no gap in the log'))
    else evs.forEach((e, i) => i === 0 || assert.ok(e.seq > evs[i - 1].seq, 'seqs increase'))
    const keys = new Map<string, string>()
    for (const u of users) keys.set(u.did, await signingDidKey(pds, u.did))
    const seen = new Map<string, string[]>()
    const last = new Map<string, { rev: string; data: string }>()
    for (const e of evs) {
      if (e.type !== '#commit' || !keys.has(e.body.repo)) continue
      const did = e.body.repo as string
      await checkCommitEvent(e.body, keys.get(did)!)
      const car = await readCarWithRoot(e.body.blocks)
      const commit = cbor.decode(car.blocks.get(car.root)!) as { data: { toString(): string } }
      // A relay (@atproto/sync) reads the record of every create and update from the event's own blocks.
      for (const op of e.body.ops) if (op.cid) assert.ok(car.blocks.has(op.cid), `${op.action} ${op.path}: its record block is in the event`)
      const prev = last.get(did)
      if (prev) {
        assert.equal(e.body.since, prev.rev, 'since is the previous rev')
        assert.equal(e.body.prevData.toString(), prev.data, 'prevData is the previous data')
      }
      last.set(did, { rev: e.body.rev, data: commit.data.toString() })
      seen.set(did, [...(seen.get(did) ?? []), e.body.commit.toString()])
    }
    for (const u of users) {
      const want = acked.get(u.did) ?? []
      assert.deepEqual(seen.get(u.did) ?? [], want, `${u.did}: the log holds exactly the acknowledged commits, in order`)
      const verified = await verifyRepoCar(await getRepoBytes(pds, u.did), u.did, keys.get(u.did)!)
      if (want.length) assert.equal(verified.commit.cid.toString(), want.at(-1), 'getRepo is at the last acknowledged commit')
      const listed = await xrpc(pds, 'com.atproto.repo.listRecords', { query: { repo: u.did, collection: COLL, limit: '100' } })
      const inCar = verified.creates
        .filter((c) => c.collection === COLL)
        .map((c) => `${c.rkey} ${c.cid.toString()}`)
        .sort()
      const inIndex = (listed.body.records as { uri: string; cid: string }[]).map((r) => `${r.uri.split('/').at(-1)} ${r.cid}`).sort()
      assert.deepEqual(inCar, inIndex, 'getRepo holds what listRecords lists')
      await verifyStoredRepo(pds, u.did)
    }
  }

  it('34 repos written at once, with failing writes among them: each acknowledged commit once, chained and verifiable', async () => {
    const users: User[] = []
    for (let i = 0; i < 34; i++) users.push(await createUser(pds))
    const from = pds.ctx.sequencer.latestSeq()
    const firehose = await FirehoseClient.connect(pds, { cursor: from })
    const acked = new Map<string, string[]>()
    const rounds = 4
    for (let r = 0; r < rounds; r++) {
      await Promise.all(
        users.map(async (u, i) => {
          // Concurrent writes to one repo and to the others: creates, a duplicate create (refused), an identical put
          // (no commit), a move of identical content, a stale swapCommit (refused), the repo's last record deleted.
          const rk = `r${r}`
          const a = write(u, 'com.atproto.repo.createRecord', { collection: COLL, rkey: `${rk}a`, record: post(`same ${i}`) }, acked)
          const b = write(u, 'com.atproto.repo.createRecord', { collection: COLL, rkey: `${rk}b`, record: post(`b ${i} ${r}`) }, acked)
          const dup = write(u, 'com.atproto.repo.createRecord', { collection: COLL, rkey: `${rk}b`, record: post('dup') }, acked)
          await Promise.all([a, b, dup])
          await write(u, 'com.atproto.repo.putRecord', { collection: COLL, rkey: `${rk}a`, record: post(`same ${i}`) }, acked)
          await write(
            u,
            'com.atproto.repo.applyWrites',
            {
              writes: [
                { $type: 'com.atproto.repo.applyWrites#delete', collection: COLL, rkey: `${rk}a` },
                { $type: 'com.atproto.repo.applyWrites#create', collection: COLL, rkey: `${rk}m`, value: post(`same ${i}`) },
                { $type: 'com.atproto.repo.applyWrites#update', collection: COLL, rkey: `${rk}b`, value: post(`same ${i}`) },
              ],
            },
            acked,
          )
          const stale = await write(
            u,
            'com.atproto.repo.applyWrites',
            {
              swapCommit: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm',
              writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: COLL, value: post('stale') }],
            },
            acked,
          )
          assert.equal(stale.status, 400)
          // Every third user empties the repo each round: the tree becomes empty and grows again next round.
          if (i % 3 === 0) {
            for (const key of [`${rk}m`, `${rk}b`]) {
              await write(u, 'com.atproto.repo.deleteRecord', { collection: COLL, rkey: key }, acked)
            }
            for (let k = 0; k < r; k++) await write(u, 'com.atproto.repo.deleteRecord', { collection: COLL, rkey: `r${k}m` }, acked)
          }
        }),
      )
    }
    // One repo past the heads' reload (100 commits) with the others evicting it meanwhile.
    const [heavy] = users
    for (let k = 0; k < 105; k++) {
      const others = users.slice(1).map((u) =>
        k % 20 === 0 ? write(u, 'com.atproto.repo.createRecord', { collection: COLL, record: post(`e${k}`) }, acked) : null,
      )
      await write(heavy, 'com.atproto.repo.createRecord', { collection: COLL, rkey: `h${k}`, record: post(`h${k % 7}`) }, acked)
      if (k % 10 === 9) await write(heavy, 'com.atproto.repo.deleteRecord', { collection: COLL, rkey: `h${k - 5}` }, acked)
      await Promise.all(others)
    }
    const latest = pds.ctx.sequencer.latestSeq()
    await firehose.untilSeq(latest)
    const seqs = firehose.seqs
    assert.deepEqual(seqs, Array.from({ length: latest - from }, (_, i) => from + 1 + i), 'the firehose: every seq once, in order')
    firehose.close()
    await checkAll(users, from, acked)
  })

  it('concurrent writes with one swapCommit: exactly one wins; an account deleted while its writes are queued with others', async () => {
    const victim = await createUser(pds)
    const others = [await createUser(pds), await createUser(pds), await createUser(pds)]
    const from = pds.ctx.sequencer.latestSeq()
    const acked = new Map<string, string[]>()

    // Two applyWrites racing on the same swapCommit: one commits, the other is InvalidSwap.
    const [o] = others
    const head = (await xrpc(pds, 'com.atproto.sync.getLatestCommit', { query: { did: o.did } })).body.cid as string
    const racing = await Promise.all(
      [1, 2].map((n) =>
        write(o, 'com.atproto.repo.applyWrites', { swapCommit: head, writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: COLL, value: post(`race ${n}`) }] }, acked),
      ),
    )
    assert.deepEqual(racing.map((r) => r.status).sort(), [200, 400])
    assert.equal(racing.find((r) => r.status === 400)!.body.error, 'InvalidSwap')

    // The victim's writes queued behind its lock and grouped with the others' writes, then the account deleted.
    const victimWrites = Array.from({ length: 8 }, (_, n) =>
      xrpc(pds, 'com.atproto.repo.createRecord', { body: { repo: victim.did, collection: COLL, record: post(`v${n}`) }, headers: bearer(victim) }),
    )
    const otherWrites = others.flatMap((u) =>
      Array.from({ length: 4 }, (_, n) => write(u, 'com.atproto.repo.createRecord', { collection: COLL, record: post(`o${n}`) }, acked)),
    )
    const deleted = xrpc(pds, 'com.atproto.admin.deleteAccount', { body: { did: victim.did }, headers: { authorization: pds.adminAuth } })
    const [del, ...victimResults] = await Promise.all([deleted, ...victimWrites, ...otherWrites])
    assert.equal(del.status, 200, JSON.stringify(del.body))
    for (const r of victimResults) assert.ok([200, 400, 401].includes(r.status), `${r.status} ${JSON.stringify(r.body)}`)
    // Nothing of the victim is left but the tombstone, whichever of its writes were answered before the deletion.
    const left = events(pds, 0).filter((e) => e.body.did === victim.did || e.body.repo === victim.did)
    assert.deepEqual(left.map((e) => [e.type, e.body.status]), [['#account', 'deleted']])
    for (const table of ['repo_block', 'repo_root', 'record']) {
      assert.equal(pds.db.prepare(`SELECT count(*) FROM ${table} WHERE did = ?`).pluck().get(victim.did), 0, table)
    }
    const gone = await xrpc(pds, 'com.atproto.sync.getRepo', { query: { did: victim.did } })
    assert.equal(gone.status, 400)
    // A write arriving after the deletion finds no repo, and the others' writes are all there once.
    const late = await xrpc(pds, 'com.atproto.repo.createRecord', { body: { repo: victim.did, collection: COLL, record: post('late') }, headers: bearer(victim) })
    assert.ok(late.status === 400 || late.status === 401, `${late.status}`)
    await checkAll(others, from, acked, false)
  })

  it('token cache: a used access token is refused at once after deleteSession, a password change, an app password revoked; a refresh token is no access token', async () => {
    const u = await createUser(pds)
    const whoami = (token: string) => xrpc(pds, 'com.atproto.server.getSession', { headers: { authorization: `Bearer ${token}` } })
    const login = async (password = u.password) =>
      (await xrpc(pds, 'com.atproto.server.createSession', { body: { identifier: u.handle, password } })).body as {
        accessJwt: string
        refreshJwt: string
      }

    // deleteSession (with the refresh token) ends the access token that was just used.
    const s1 = await login()
    assert.equal((await whoami(s1.accessJwt)).status, 200)
    assert.equal((await whoami(s1.accessJwt)).status, 200) // now from the cache
    // The refresh token, verified as one and remembered, is still no access token.
    assert.equal((await xrpc(pds, 'com.atproto.server.refreshSession', { method: 'POST', headers: { authorization: `Bearer ${s1.refreshJwt}` } })).status, 200)
    const asAccess = await whoami(s1.refreshJwt)
    assert.equal(asAccess.status, 400, JSON.stringify(asAccess.body))
    const s2 = await login()
    assert.equal((await whoami(s2.accessJwt)).status, 200)
    assert.equal((await xrpc(pds, 'com.atproto.server.deleteSession', { method: 'POST', headers: { authorization: `Bearer ${s2.refreshJwt}` } })).status, 200)
    const afterDelete = await whoami(s2.accessJwt)
    assert.ok(afterDelete.status === 400 || afterDelete.status === 401, `deleted session: ${afterDelete.status}`)

    // An app password's session, used, then the app password revoked.
    const appPw = (await xrpc(pds, 'com.atproto.server.createAppPassword', { body: { name: 'phone' }, headers: { authorization: `Bearer ${s2.accessJwt}` } }))
    const s3 = await login()
    const made = await xrpc(pds, 'com.atproto.server.createAppPassword', { body: { name: 'phone' }, headers: { authorization: `Bearer ${s3.accessJwt}` } })
    assert.equal(made.status, 200, JSON.stringify([appPw.status, made.body]))
    const app = await login(made.body.password)
    assert.equal((await whoami(app.accessJwt)).status, 200)
    assert.equal((await xrpc(pds, 'com.atproto.server.revokeAppPassword', { body: { name: 'phone' }, headers: { authorization: `Bearer ${s3.accessJwt}` } })).status, 200)
    const afterRevoke = await whoami(app.accessJwt)
    assert.ok(afterRevoke.status === 400 || afterRevoke.status === 401, `revoked app password: ${afterRevoke.status}`)

    // A password change (reset by email token is out of reach here; the admin update is the same revocation).
    assert.equal((await whoami(s3.accessJwt)).status, 200)
    const upd = await xrpc(pds, 'com.atproto.admin.updateAccountPassword', { body: { did: u.did, password: 'new-password-1' }, headers: { authorization: pds.adminAuth } })
    assert.equal(upd.status, 200, JSON.stringify(upd.body))
    const afterPw = await whoami(s3.accessJwt)
    assert.ok(afterPw.status === 400 || afterPw.status === 401, `after a password change: ${afterPw.status}`)

    // A takedown: the account's used token is refused for writes at once.
    const s4 = await login('new-password-1')
    const create = () => xrpc(pds, 'com.atproto.repo.createRecord', { body: { repo: u.did, collection: COLL, record: post('x') }, headers: { authorization: `Bearer ${s4.accessJwt}` } })
    assert.equal((await create()).status, 200)
    const td = await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', {
      body: { subject: { $type: 'com.atproto.admin.defs#repoRef', did: u.did }, takedown: { applied: true, ref: 't1' } },
      headers: { authorization: pds.adminAuth },
    })
    assert.equal(td.status, 200, JSON.stringify(td.body))
    const afterTd = await create()
    assert.ok(afterTd.status === 400 || afterTd.status === 401, `after a takedown: ${afterTd.status}`)
  })
})

describe('s5 attack: repo heads memory', () => {
  // A head keeps every node its commits created or loaded (~1.6 KiB per record written): 99 applyWrites of 200
  // creates pinned a 32 MiB tree per repo, ~1 GiB over the 32 heads kept. It must be reloaded after a bounded number
  // of record writes, not only of commits.
  it('a head that took 200-write batches is reloaded after a bounded number of writes, not kept for 100 commits', async () => {
    const key = await Secp256k1Keypair.create()
    const storage = new MemoryBlockstore()
    let repo = await Repo.create(storage, 'did:plc:heads', key)
    const heads = new RepoHeads()
    // Writes the kept head has absorbed since it was last loaded from storage.
    let absorbed = 0
    let dropped = 0
    for (let c = 0; c < 6; c++) {
      const changes: TreeChange[] = []
      for (let i = 0; i < 200; i++) {
        const bytes: Uint8Array = cbor.encode(post(`${c} ${i}`))
        changes.push({ action: 'create', key: `${COLL}/${TID.nextStr()}`, cid: CID.createV1(cbor.code, await sha256.digest(bytes)), bytes })
      }
      const head = heads.get('did:plc:heads', repo.cid) ?? repo
      const { commit, next } = await buildCommit(head, changes, key)
      await storage.applyCommit(commit)
      heads.set('did:plc:heads', next, changes.length)
      repo = next
      absorbed += changes.length
      if (heads.get('did:plc:heads', next.cid)) {
        assert.ok(absorbed <= 500, `a head kept after ${absorbed} record writes`)
      } else {
        absorbed = 0
        dropped += 1
      }
    }
    assert.equal(dropped, 2, 'dropped after each third batch of 200')
  })
})

describe('s5 attack: a group commit whose transaction SQLite rolled back whole', () => {
  // SQLite may roll back the whole transaction on an error inside it (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY,
  // SQLITE_NOMEM: "Response To Errors Within A Transaction"); a trigger's RAISE(ROLLBACK) does it deterministically.
  // The members after the failing one must not then run in transactions of their own (better-sqlite3 begins one when
  // none is open): they were committed, yet answered as failed with everyone else when the group's COMMIT found no
  // transaction; and members before it must not be answered as committed.
  it('no member is committed and answered as failed, or answered as committed and lost', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-s5-group-'))
    const db = openDatabase(path.join(dir, 'pds.sqlite'))
    try {
      const seq = new Sequencer(db)
      db.exec(`CREATE TEMP TABLE boom (x INTEGER)`)
      db.exec(`CREATE TEMP TRIGGER boom_rollback BEFORE INSERT ON boom BEGIN SELECT RAISE(ROLLBACK, 'disk full'); END`)
      const identity = (did: string) => ({ did, handle: `${did.slice(8)}.test` })
      const member = (n: string) => seq.groupTransaction(() => seq.append(`did:plc:${n}`, 'identity', identity(`did:plc:${n}`)))
      const members = [
        member('before'),
        seq.groupTransaction(() => {
          seq.append('did:plc:failing', 'identity', identity('did:plc:failing'))
          db.prepare('INSERT INTO boom (x) VALUES (1)').run()
        }),
        member('after1'),
        member('after2'),
      ]
      const results = await Promise.allSettled(members)
      const stored = (n: string) => (db.prepare('SELECT count(*) FROM repo_seq WHERE did = ?').pluck().get(`did:plc:${n}`) as number) === 1
      for (const [i, n] of ['before', 'failing', 'after1', 'after2'].entries()) {
        assert.equal(results[i].status === 'fulfilled', stored(n), `${n}: answered ${results[i].status}, stored: ${stored(n)}`)
      }
      assert.equal(db.inTransaction, false)
      // The sequencer still works afterwards.
      assert.equal(typeof (await member('later')), 'number')
      assert.ok(stored('later'))
    } finally {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
