// app.bsky.actor.getPreferences / putPreferences: a private list per account, replaced whole on put.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { ForbiddenError } from '../src/errors.ts'
import type { TestPlc } from './helpers/plc.ts'
import { createUser, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'

type User = Awaited<ReturnType<typeof createUser>>
const DEFS = 'app.bsky.actor.defs'
const adult = (enabled: boolean) => ({ $type: `${DEFS}#adultContentPref`, enabled })
const label = (label: string) => ({ $type: `${DEFS}#contentLabelPref`, label, visibility: 'hide' })
const details = (birthDate: string) => ({ $type: `${DEFS}#personalDetailsPref`, birthDate })

describe('preferences', () => {
  let plc: TestPlc
  let pds: TestPds
  const bearer = (agent: AtpAgent) => ({ authorization: `Bearer ${agent.session!.accessJwt}` })
  const get = async (agent: AtpAgent) => (await agent.app.bsky.actor.getPreferences()).data.preferences
  const put = (agent: AtpAgent, body: unknown) =>
    xrpc(pds, 'app.bsky.actor.putPreferences', { body, headers: bearer(agent) })

  before(async () => ({ plc, pds } = await startServers()))
  after(() => stopServers({ plc, pds }))

  async function appPasswordAgent(user: User, privileged = false): Promise<AtpAgent> {
    const name = `app-${privileged}-${Math.random()}`
    const pw = await user.agent.com.atproto.server.createAppPassword({ name, privileged })
    const agent = pds.agent()
    await agent.login({ identifier: user.handle, password: pw.data.password })
    return agent
  }

  it('empty by default, and needs a login', async () => {
    const alice = await createUser(pds)
    assert.deepEqual(await get(alice.agent), [])
    const anon = await xrpc(pds, 'app.bsky.actor.getPreferences')
    assert.equal(anon.status, 401)
  })

  it('put then get round-trips, whole list replaced, order kept', async () => {
    const alice = await createUser(pds)
    const prefs = [label('nsfw'), adult(true), label('gore'), { $type: `${DEFS}#savedFeedsPrefV2`, items: [] }]
    await alice.agent.app.bsky.actor.putPreferences({ preferences: prefs })
    assert.deepEqual(await get(alice.agent), prefs)
    await alice.agent.app.bsky.actor.putPreferences({ preferences: [adult(false)] })
    assert.deepEqual(await get(alice.agent), [adult(false)])
    // The high-level client reads and writes through the same two methods.
    await alice.agent.setAdultContentEnabled(true)
    assert.equal((await alice.agent.getPreferences()).moderationPrefs.adultContentEnabled, true)
    await alice.agent.app.bsky.actor.putPreferences({ preferences: [] })
    assert.deepEqual(await get(alice.agent), [])
  })

  it('refuses a foreign namespace, an invalid shape or a missing $type, and changes nothing', async () => {
    const alice = await createUser(pds)
    await alice.agent.app.bsky.actor.putPreferences({ preferences: [adult(true)] })
    const cases: [unknown, string][] = [
      [{ preferences: [adult(false), { $type: 'com.example.pref', x: 1 }] }, 'Some preferences are not in the app.bsky namespace'],
      [{ preferences: [{ $type: 'app.bskyx.pref' }] }, 'Some preferences are not in the app.bsky namespace'],
      [{ preferences: [{ $type: `${DEFS}#adultContentPref`, enabled: 'yes' }] }, 'Input/preferences/0/enabled must be a boolean'],
      [{ preferences: [adult(false), { enabled: true }] }, 'Input/preferences/1 must be an object which includes the "$type" property'],
      [{ preferences: [details('not a date')] }, 'Input/preferences/0/birthDate must be an valid atproto datetime (both RFC-3339 and ISO-8601)'],
    ]
    for (const [body, message] of cases) {
      const res = await put(alice.agent, body)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.deepEqual(res.body, { error: 'InvalidRequest', message })
    }
    for (const body of [{}, { preferences: 'x' }, { preferences: [1] }, { preferences: [null] }]) {
      const res = await put(alice.agent, body)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(res.body.error, 'InvalidRequest')
    }
    assert.deepEqual(await get(alice.agent), [adult(true)])
  })

  it('an unknown app.bsky preference type is kept, as the open union allows', async () => {
    const alice = await createUser(pds)
    const prefs = [{ $type: `${DEFS}#somethingNewPref`, value: 1 }]
    await alice.agent.app.bsky.actor.putPreferences({ preferences: prefs })
    assert.deepEqual(await get(alice.agent), prefs)
  })

  it('refuses more than 100 preferences (400) and a body over the request limit (413), nothing changed', async () => {
    const alice = await createUser(pds)
    await alice.agent.app.bsky.actor.putPreferences({ preferences: [adult(true)] })
    const many = await put(alice.agent, { preferences: Array.from({ length: 101 }, (_, i) => label(`l${i}`)) })
    assert.equal(many.status, 400)
    assert.equal(many.body.error, 'InvalidRequest')
    const hundred = Array.from({ length: 100 }, (_, i) => label(`l${i}`))
    const big = await put(alice.agent, { preferences: [{ $type: `${DEFS}#hiddenPostsPref`, items: [], pad: 'x'.repeat(160_000) }] })
    assert.equal(big.status, 413)
    assert.deepEqual(await get(alice.agent), [adult(true)])
    assert.equal((await put(alice.agent, { preferences: hundred })).status, 200)
    assert.deepEqual(await get(alice.agent), hundred)
  })

  it('personalDetailsPref: full logins only; an app password neither sees nor overwrites it', async () => {
    const alice = await createUser(pds)
    const birth = details('1990-01-01T00:00:00.000Z')
    await alice.agent.app.bsky.actor.putPreferences({ preferences: [birth, adult(true)] })
    const declared = { $type: `${DEFS}#declaredAgePref`, isOverAge13: true, isOverAge16: true, isOverAge18: true }
    assert.deepEqual(await get(alice.agent), [birth, adult(true), declared])

    for (const privileged of [false, true]) {
      const app = await appPasswordAgent(alice, privileged)
      assert.deepEqual(await get(app), [adult(true), declared])
      const refused = await put(app, { preferences: [details('2015-01-01T00:00:00.000Z')] })
      assert.equal(refused.status, 400)
      assert.deepEqual(refused.body, {
        error: 'InvalidRequest',
        message: `Do not have authorization to set preferences: ${DEFS}#personalDetailsPref`,
      })
      // Replacing the list it sees leaves the private one in place; the derived declaredAgePref is not stored.
      await app.app.bsky.actor.putPreferences({ preferences: [adult(false), declared] })
      assert.deepEqual(await get(app), [adult(false), declared])
      assert.deepEqual(await get(alice.agent), [birth, adult(false), declared])
      await app.app.bsky.actor.putPreferences({ preferences: [adult(true)] })
    }
    // The full login replaces everything, the private one included.
    await alice.agent.app.bsky.actor.putPreferences({ preferences: [adult(true)] })
    assert.deepEqual(await get(alice.agent), [adult(true)])
  })

  it("each account's preferences are its own, and go with the account", async () => {
    const alice = await createUser(pds)
    const bob = await createUser(pds)
    await alice.agent.app.bsky.actor.putPreferences({ preferences: [adult(true)] })
    await bob.agent.app.bsky.actor.putPreferences({ preferences: [label('spam')] })
    assert.deepEqual(await get(alice.agent), [adult(true)])
    assert.deepEqual(await get(bob.agent), [label('spam')])

    const del = await xrpc(pds, 'com.atproto.admin.deleteAccount', {
      body: { did: bob.did },
      headers: { authorization: pds.adminAuth },
    })
    assert.equal(del.status, 200)
    const rows = pds.db.prepare('SELECT did FROM preference').all() as { did: string }[]
    assert.ok(rows.every((r) => r.did !== bob.did))
    assert.ok(rows.some((r) => r.did === alice.did))
  })

  it('a deactivated account still reads and writes its preferences, as in the reference', async () => {
    const alice = await createUser(pds)
    await alice.agent.com.atproto.server.deactivateAccount({})
    await alice.agent.app.bsky.actor.putPreferences({ preferences: [adult(true)] })
    assert.deepEqual(await get(alice.agent), [adult(true)])
  })

  it('a put for an account deleted mid-request is a 403 AccountNotFound, with nothing stored', () => {
    const did = 'did:plc:deletedmidrequest0000000'
    assert.throws(
      () => pds.ctx.preferences.put(did, 'app.bsky', [adult(true)], { fullAccess: true }),
      (err) => err instanceof ForbiddenError && err.error === 'AccountNotFound',
    )
    assert.equal((pds.db.prepare('SELECT count(*) AS n FROM preference WHERE did = ?').get(did) as { n: number }).n, 0)
  })
})
