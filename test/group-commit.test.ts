// Group commit (Sequencer.groupTransaction): writes ready in the same turn of the event loop share one transaction,
// each answered only after it committed; a member that throws is rolled back alone; a failed COMMIT fails them all.
// On a real database file with the server's pragmas and migrations.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openDatabase, type Db } from '../src/db/index.ts'
import { Sequencer } from '../src/sequencer/sequencer.ts'

describe('group commit', () => {
  let dir: string
  let db: Db
  let seq: Sequencer
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-group-'))
    db = openDatabase(path.join(dir, 'pds.sqlite'))
    seq = new Sequencer(db)
  })
  after(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const identity = (did: string) => ({ did, handle: `${did.slice(8)}.test` })
  const countOf = (did: string) => db.prepare('SELECT count(*) FROM repo_seq WHERE did = ?').pluck().get(did) as number

  it('commits the writes of one turn together, tells listeners once, and answers each after the commit', async () => {
    const heard: number[] = []
    const listener = (latest: number) => heard.push(latest)
    seq.on('events', listener)
    const first = seq.lastAssignedSeq()
    let committedBeforeAnswer = true
    const writes = ['a', 'b', 'c', 'd'].map((n) =>
      seq
        .groupTransaction(() => seq.append(`did:plc:${n}`, 'identity', identity(`did:plc:${n}`)))
        .then((s) => {
          // The answer comes after the commit: another connection would see the row. Here: no transaction is open.
          committedBeforeAnswer &&= !db.inTransaction
          return s
        }),
    )
    // Nothing is written before the turn ends.
    assert.equal(countOf('did:plc:a'), 0)
    const seqs = await Promise.all(writes)
    seq.off('events', listener)
    assert.deepEqual(seqs, [first + 1, first + 2, first + 3, first + 4])
    assert.deepEqual(heard, [first + 4], 'one notification for the whole group')
    assert.ok(committedBeforeAnswer)
    for (const n of ['a', 'b', 'c', 'd']) assert.equal(countOf(`did:plc:${n}`), 1)
  })

  it('rolls back a member that throws, alone', async () => {
    const before = seq.lastAssignedSeq()
    const ok1 = seq.groupTransaction(() => seq.append('did:plc:ok1', 'identity', identity('did:plc:ok1')))
    const bad = seq.groupTransaction(() => {
      seq.append('did:plc:bad', 'identity', identity('did:plc:bad'))
      throw new Error('refused half-way')
    })
    const ok2 = seq.groupTransaction(() => seq.append('did:plc:ok2', 'identity', identity('did:plc:ok2')))
    const [r1, rBad, r2] = await Promise.allSettled([ok1, bad, ok2])
    assert.equal(r1.status, 'fulfilled')
    assert.equal(r2.status, 'fulfilled')
    assert.equal(rBad.status, 'rejected')
    assert.equal((rBad as PromiseRejectedResult).reason.message, 'refused half-way')
    assert.equal(countOf('did:plc:bad'), 0, "the failed member's event is gone")
    assert.equal(countOf('did:plc:ok1'), 1)
    assert.equal(countOf('did:plc:ok2'), 1)
    // The failed member's seq was rolled back with it: the two others are consecutive.
    assert.deepEqual([(r1 as PromiseFulfilledResult<number>).value, (r2 as PromiseFulfilledResult<number>).value], [before + 1, before + 2])
  })

  it('fails every member when the commit itself fails, and keeps nothing of them', async () => {
    // A deferred foreign-key violation is only checked at COMMIT: the group's commit fails after both members ran.
    const a = seq.groupTransaction(() => seq.append('did:plc:fa', 'identity', identity('did:plc:fa')))
    const b = seq.groupTransaction(() => {
      db.pragma('defer_foreign_keys = ON')
      db.prepare(`INSERT INTO app_password (did, name, password_scrypt, privileged, created_at) VALUES ('did:plc:none', 'x', 'h', 0, '')`).run()
    })
    const results = await Promise.allSettled([a, b])
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected'])
    assert.equal(countOf('did:plc:fa'), 0)
    assert.equal(db.inTransaction, false)
  })
})
