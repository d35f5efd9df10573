// Deactivation, takedown and deletion: what sync answers, what is sequenced, and what is refused or removed.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { readCarWithRoot } from '@atproto/repo'
import type { TestPlc } from './helpers/plc.ts'
import { createUser, xrpc, type TestPds, startServers, stopServers } from './helpers/pds.ts'
import { events } from './helpers/repo-check.ts'

const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })
type User = Awaited<ReturnType<typeof createUser>>

describe('account status', () => {
  let plc: TestPlc
  let pds: TestPds
  const admin = () => ({ authorization: pds.adminAuth })
  const bearer = (user: User) => ({ authorization: `Bearer ${user.agent.session!.accessJwt}` })

  before(async () => ({ plc, pds } = await startServers()))
  after(() => stopServers({ plc, pds }))

  /** The sync answers for a repo: getRepo as anyone, getLatestCommit, getRepoStatus and its listRepos entry. */
  async function syncView(did: string, headers?: Record<string, string>) {
    const repo = await xrpc(pds, 'com.atproto.sync.getRepo', { query: { did }, headers })
    const latest = await xrpc(pds, 'com.atproto.sync.getLatestCommit', { query: { did }, headers })
    const status = await xrpc(pds, 'com.atproto.sync.getRepoStatus', { query: { did } })
    const list = await xrpc(pds, 'com.atproto.sync.listRepos', { query: { limit: '1000' } })
    return {
      repo: repo.status === 200 ? 200 : `${repo.status} ${repo.body.error}`,
      latest: latest.status === 200 ? 200 : `${latest.status} ${latest.body.error}`,
      status: status.status === 200 ? status.body : `${status.status} ${status.body.error}`,
      listed: (list.body.repos as { did: string; status?: string }[]).find((r) => r.did === did),
    }
  }

  const newEvents = (did: string, after: number) =>
    events(pds, after).filter((e) => (e.body.did ?? e.body.repo) === did).map((e) => ({ type: e.type, body: e.body }))

  it('deactivate: sync refuses the repo to others, reports it inactive, sequences #account; writes are refused', async () => {
    const alice = await createUser(pds)
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('hi') })
    const root = pds.ctx.repo.root(alice.did)!
    const seq = pds.ctx.sequencer.latestSeq()

    const deleteAfter = new Date(Date.now() + 86_400_000).toISOString()
    await alice.agent.com.atproto.server.deactivateAccount({ deleteAfter })

    const view = await syncView(alice.did)
    assert.equal(view.repo, '400 RepoDeactivated')
    assert.equal(view.latest, '400 RepoDeactivated')
    assert.deepEqual(view.status, { did: alice.did, active: false, status: 'deactivated' })
    assert.deepEqual(view.listed, { did: alice.did, head: root.cid.toString(), rev: root.rev, active: false, status: 'deactivated' })
    const evts = newEvents(alice.did, seq)
    assert.deepEqual(evts.map((e) => [e.type, e.body.active, e.body.status]), [['#account', false, 'deactivated']])
    assert.equal(pds.ctx.accounts.store.byDid(alice.did)!.delete_after, deleteAfter)

    // The account itself and the operator still read it.
    assert.equal((await syncView(alice.did, bearer(alice))).repo, 200)
    assert.equal((await syncView(alice.did, admin())).latest, 200)
    const blob = await xrpc(pds, 'com.atproto.sync.listBlobs', { query: { did: alice.did } })
    assert.equal(blob.body.error, 'RepoDeactivated')

    const write = await xrpc(pds, 'com.atproto.repo.createRecord', {
      body: { repo: alice.did, collection: 'app.bsky.feed.post', record: post('while away') },
      headers: bearer(alice),
    })
    assert.equal(write.body.error, 'AccountDeactivated')
    assert.equal(pds.ctx.repo.root(alice.did)!.rev, root.rev, 'nothing committed')
    // Uploads are still taken, as in the reference: an account migrating here brings its blobs before activating.
    const upload = await xrpc(pds, 'com.atproto.repo.uploadBlob', {
      rawBody: 'bytes',
      headers: { ...bearer(alice), 'content-type': 'text/plain' },
    })
    assert.equal(upload.status, 200)
    // The public record API hides the repo too.
    for (const [nsid, query] of [
      ['com.atproto.repo.listRecords', { repo: alice.did, collection: 'app.bsky.feed.post' }],
      ['com.atproto.repo.describeRepo', { repo: alice.handle }],
    ] as const) {
      const res = await xrpc(pds, nsid, { query })
      assert.equal(res.body.error, 'RepoDeactivated', nsid)
    }

    // activate: served again, with #account, #identity and #sync for the current commit.
    const seq2 = pds.ctx.sequencer.latestSeq()
    await alice.agent.com.atproto.server.activateAccount()
    const back = await syncView(alice.did)
    assert.equal(back.repo, 200)
    assert.deepEqual(back.status, { did: alice.did, active: true, rev: root.rev })
    assert.deepEqual(back.listed, { did: alice.did, head: root.cid.toString(), rev: root.rev, active: true })
    const evts2 = newEvents(alice.did, seq2)
    assert.deepEqual(evts2.map((e) => e.type), ['#account', '#identity', '#sync'])
    assert.equal(evts2[0].body.active, true)
    assert.equal(evts2[0].body.status, undefined)
    assert.equal(evts2[1].body.handle, alice.handle)
    assert.equal(evts2[2].body.rev, root.rev)
    const car = await readCarWithRoot(evts2[2].body.blocks)
    assert.ok(car.root.equals(root.cid))
    assert.deepEqual([...car.blocks.cids()].map(String), [root.cid.toString()])
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('back') })
  })

  it('deactivate and activate need the full account login, not an app password', async () => {
    const bob = await createUser(pds)
    const appPw = await bob.agent.com.atproto.server.createAppPassword({ name: 'app' })
    const viaApp = pds.agent()
    await viaApp.login({ identifier: bob.handle, password: appPw.data.password })
    const res = await xrpc(pds, 'com.atproto.server.deactivateAccount', { body: {}, headers: { authorization: `Bearer ${viaApp.session!.accessJwt}` } })
    assert.equal(res.status, 400, JSON.stringify(res.body))
    assert.equal(res.body.error, 'InvalidToken')
    const anon = await xrpc(pds, 'com.atproto.server.activateAccount', { method: 'POST' })
    assert.equal(anon.status, 401)
    const badDate = await xrpc(pds, 'com.atproto.server.deactivateAccount', { body: { deleteAfter: 'soon' }, headers: bearer(bob) })
    assert.equal(badDate.status, 400)
    assert.deepEqual((await syncView(bob.did)).status, { did: bob.did, active: true, rev: pds.ctx.repo.root(bob.did)!.rev })
  })

  it('admin takedown: RepoTakendown, sessions ended, login refused; lifting it restores the repo', async () => {
    const carol = await createUser(pds)
    const subject = { $type: 'com.atproto.admin.defs#repoRef', did: carol.did }
    const seq = pds.ctx.sequencer.latestSeq()
    const res = await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', {
      body: { subject, takedown: { applied: true, ref: 'case-1' } },
      headers: admin(),
    })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { subject, takedown: { applied: true, ref: 'case-1' } })

    const view = await syncView(carol.did)
    assert.equal(view.repo, '400 RepoTakendown')
    assert.deepEqual(view.status, { did: carol.did, active: false, status: 'takendown' })
    assert.equal(view.listed?.status, 'takendown')
    assert.equal((await syncView(carol.did, admin())).repo, 200, 'the operator still reads it')
    assert.deepEqual(newEvents(carol.did, seq).map((e) => [e.type, e.body.active, e.body.status]), [['#account', false, 'takendown']])

    const session = await xrpc(pds, 'com.atproto.server.getSession', { headers: bearer(carol) })
    assert.equal(session.status, 400)
    assert.equal(session.body.error, 'ExpiredToken')
    const login = await xrpc(pds, 'com.atproto.server.createSession', { body: { identifier: carol.handle, password: carol.password } })
    assert.equal(login.body.error, 'AccountTakedown')

    const status = await xrpc(pds, 'com.atproto.admin.getSubjectStatus', { query: { did: carol.did }, headers: admin() })
    assert.deepEqual(status.body, { subject, takedown: { applied: true, ref: 'case-1' }, deactivated: { applied: false } })

    const seq2 = pds.ctx.sequencer.latestSeq()
    await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', { body: { subject, takedown: { applied: false } }, headers: admin() })
    assert.equal((await syncView(carol.did)).repo, 200)
    assert.deepEqual(newEvents(carol.did, seq2).map((e) => [e.type, e.body.active]), [['#account', true]])
    const lifted = await xrpc(pds, 'com.atproto.admin.getSubjectStatus', { query: { did: carol.did }, headers: admin() })
    assert.deepEqual(lifted.body.takedown, { applied: false })
  })

  it('admin updateSubjectStatus and getSubjectStatus: auth and bad subjects', async () => {
    const dave = await createUser(pds)
    const subject = { $type: 'com.atproto.admin.defs#repoRef', did: dave.did }
    const asUser = await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', { body: { subject, takedown: { applied: true } }, headers: bearer(dave) })
    assert.equal(asUser.status, 401)
    const cases: [string, unknown, string][] = [
      ['no subject', { takedown: { applied: true } }, 'InvalidRequest'],
      ['record subject', { subject: { $type: 'com.atproto.repo.strongRef', uri: `at://${dave.did}/app.bsky.feed.post/x`, cid: 'x' }, takedown: { applied: true } }, 'InvalidRequest'],
      ['malformed did', { subject: { ...subject, did: 'nope' }, takedown: { applied: true } }, 'InvalidRequest'],
      ['unknown account', { subject: { ...subject, did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }, takedown: { applied: true } }, 'AccountNotFound'],
      ['takedown and activate', { subject, takedown: { applied: true }, deactivated: { applied: false } }, 'InvalidRequest'],
      ['applied not boolean', { subject, takedown: { applied: 'yes' } }, 'InvalidRequest'],
    ]
    for (const [name, body, error] of cases) {
      const res = await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', { body, headers: admin() })
      assert.equal(res.status, 400, name)
      assert.equal(res.body.error, error, name)
    }
    assert.equal((await syncView(dave.did)).repo, 200, 'nothing was taken down')
    const unknown = await xrpc(pds, 'com.atproto.admin.getSubjectStatus', { query: { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }, headers: admin() })
    assert.equal(unknown.body.error, 'NotFound')
    const none = await xrpc(pds, 'com.atproto.admin.getSubjectStatus', { headers: admin() })
    assert.equal(none.status, 400)

    // Admin deactivation goes through the same path as the owner's.
    const seq = pds.ctx.sequencer.latestSeq()
    await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', { body: { subject, deactivated: { applied: true } }, headers: admin() })
    assert.equal((await syncView(dave.did)).repo, '400 RepoDeactivated')
    await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', { body: { subject, deactivated: { applied: false } }, headers: admin() })
    assert.equal((await syncView(dave.did)).repo, 200)
    assert.deepEqual(newEvents(dave.did, seq).map((e) => e.type), ['#account', '#account', '#identity', '#sync'])
  })

  it('admin deleteAccount: RepoNotFound everywhere, data and older events gone, one #account deleted left', async () => {
    const erin = await createUser(pds)
    const image = Buffer.from('not really a png')
    const up = await erin.agent.com.atproto.repo.uploadBlob(image, { encoding: 'image/png' })
    await erin.agent.com.atproto.repo.createRecord({
      repo: erin.did,
      collection: 'app.bsky.feed.post',
      record: { ...post('pic'), embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: up.data.blob }] } },
    })
    await erin.agent.com.atproto.repo.uploadBlob(Buffer.from('a temporary upload'), { encoding: 'text/plain' })
    const blobFile = path.join(pds.dataDir, 'blobs', erin.did, up.data.blob.ref.toString())
    assert.ok(existsSync(blobFile))
    const other = await createUser(pds)
    const otherRoot = pds.ctx.repo.root(other.did)!

    const res = await xrpc(pds, 'com.atproto.admin.deleteAccount', { body: { did: erin.did }, headers: admin() })
    assert.equal(res.status, 200)

    const view = await syncView(erin.did, admin())
    assert.equal(view.repo, '400 RepoNotFound')
    assert.equal(view.latest, '400 RepoNotFound')
    assert.equal(view.status, '400 RepoNotFound')
    assert.equal(view.listed, undefined)
    const rows = (table: string) => pds.db.prepare(`SELECT count(*) FROM ${table} WHERE did = ?`).pluck().get(erin.did)
    for (const table of ['account', 'session', 'repo_root', 'repo_block', 'record', 'blob', 'record_blob']) {
      assert.equal(rows(table), 0, table)
    }
    assert.deepEqual(newEvents(erin.did, 0).map((e) => [e.type, e.body.active, e.body.status]), [['#account', false, 'deleted']])
    assert.ok(!existsSync(path.dirname(blobFile)), 'blob bytes removed, temporary uploads too')
    const session = await xrpc(pds, 'com.atproto.server.getSession', { headers: bearer(erin) })
    assert.equal(session.status, 400)

    // Nobody else was touched.
    assert.deepEqual(pds.ctx.repo.root(other.did), otherRoot)
    assert.equal((await syncView(other.did)).repo, 200)

    const again = await xrpc(pds, 'com.atproto.admin.deleteAccount', { body: { did: erin.did }, headers: admin() })
    assert.equal(again.status, 400)
    assert.equal(again.body.error, 'AccountNotFound')
    const asUser = await xrpc(pds, 'com.atproto.admin.deleteAccount', { body: { did: other.did }, headers: bearer(other) })
    assert.equal(asUser.status, 401)
    assert.ok(pds.ctx.accounts.store.byDid(other.did))
  })
})
