// com.atproto.server methods beyond sessions: getServiceAuth, checkAccountStatus, getAccountInviteCodes,
// temp.checkSignupQueue, and describeServer's links and contact.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plcLib from '@did-plc/lib'
import { ConfigError, parseConfig } from '../src/config/index.ts'
import { ensureAtprotoKey, type DidDocument } from '@atproto/identity'
import { verifyJwt } from '@atproto/xrpc-server'
import { createUser, startPds, startServers, stopServers, uniqueHandle, xrpc, type TestPds } from './helpers/pds.ts'
import type { TestPlc } from './helpers/plc.ts'

let plc: TestPlc
let pds: TestPds

before(async () => {
  ;({ plc, pds } = await startServers())
})
after(() => stopServers({ plc, pds }))

const AUD = 'did:web:appview.example.com'
const nowS = () => Math.floor(Date.now() / 1000)
const bearer = (agent: AtpAgent) => ({ authorization: `Bearer ${agent.session!.accessJwt}` })

/** Verify as a receiving service would: the signing key is the one in the issuer's DID document at the PLC. */
const verify = (token: string, aud: string, lxm: string | null) =>
  verifyJwt(token, aud, lxm, async (iss) => {
    const res = await fetch(`${plc.url}/${encodeURIComponent(iss)}`)
    assert.equal(res.status, 200)
    return ensureAtprotoKey((await res.json()) as DidDocument)
  })

async function appPasswordAgent(owner: AtpAgent, handle: string, privileged: boolean): Promise<AtpAgent> {
  const res = await owner.com.atproto.server.createAppPassword({ name: `ap-${privileged}`, privileged })
  const agent = pds.agent()
  await agent.login({ identifier: handle, password: res.data.password })
  return agent
}

describe('com.atproto.server.getServiceAuth', () => {
  it('signs a token with the account repo key that verifies against its DID document', async () => {
    const user = await createUser(pds)
    const lxm = 'app.bsky.feed.getTimeline'
    const exp = nowS() + 600
    const res = await user.agent.com.atproto.server.getServiceAuth({ aud: AUD, lxm, exp })
    const payload = await verify(res.data.token, AUD, lxm)
    assert.equal(payload.iss, user.did)
    assert.equal(payload.aud, AUD)
    assert.equal(payload.lxm, lxm)
    assert.equal(payload.exp, exp)
    assert.equal(typeof payload.jti, 'string')
    // The wrong audience or method is refused by the verifier.
    await assert.rejects(verify(res.data.token, 'did:web:other.example.com', lxm), /BadJwtAudience|audience/i)
    await assert.rejects(verify(res.data.token, AUD, 'app.bsky.feed.getAuthorFeed'), /BadJwtLexiconMethod|lxm|method/i)
  })

  it('without lxm or exp: a method-less token for about a minute', async () => {
    const user = await createUser(pds)
    const res = await user.agent.com.atproto.server.getServiceAuth({ aud: AUD })
    const payload = await verify(res.data.token, AUD, null)
    assert.equal(payload.lxm, undefined)
    assert.ok(payload.exp > nowS() && payload.exp <= nowS() + 61)
  })

  it('refuses expirations in the past, past an hour, or past a minute without lxm (BadExpiration)', async () => {
    const user = await createUser(pds)
    const cases: Record<string, string>[] = [
      { aud: AUD, lxm: 'app.bsky.feed.getTimeline', exp: String(nowS() - 10) },
      { aud: AUD, lxm: 'app.bsky.feed.getTimeline', exp: String(nowS() + 3700) },
      { aud: AUD, exp: String(nowS() + 120) },
    ]
    for (const query of cases) {
      const res = await xrpc(pds, 'com.atproto.server.getServiceAuth', { query, headers: bearer(user.agent) })
      assert.equal(res.status, 400, JSON.stringify(query))
      assert.equal(res.body.error, 'BadExpiration')
    }
  })

  it('refuses protected methods for everyone and bad input with 400', async () => {
    const user = await createUser(pds)
    const call = (query: Record<string, string>) =>
      xrpc(pds, 'com.atproto.server.getServiceAuth', { query, headers: bearer(user.agent) })
    for (const lxm of ['com.atproto.server.createAppPassword', 'com.atproto.identity.updateHandle', 'com.atproto.server.getSession']) {
      const res = await call({ aud: AUD, lxm })
      assert.equal(res.status, 400)
      assert.equal(res.body.error, 'InvalidRequest')
      assert.match(res.body.message, /protected method/)
    }
    const bad: Record<string, string>[] = [{}, { aud: 'not-a-did' }, { aud: AUD, lxm: 'not an nsid' }, { aud: AUD, exp: 'soon' }]
    for (const query of bad) {
      const res = await call(query)
      assert.equal(res.status, 400, JSON.stringify(query))
      assert.equal(res.body.error, 'InvalidRequest')
    }
    const anon = await xrpc(pds, 'com.atproto.server.getServiceAuth', { query: { aud: AUD } })
    assert.equal(anon.status, 401)
  })

  it('app passwords: privileged methods only with a privileged app password', async () => {
    const user = await createUser(pds)
    const plain = await appPasswordAgent(user.agent, user.handle, false)
    const priv = await appPasswordAgent(user.agent, user.handle, true)
    const lxm = 'com.atproto.server.createAccount'
    const refused = await xrpc(pds, 'com.atproto.server.getServiceAuth', { query: { aud: AUD, lxm }, headers: bearer(plain) })
    assert.equal(refused.status, 400)
    assert.match(refused.body.message, /insufficient access/)
    const chat = await xrpc(pds, 'com.atproto.server.getServiceAuth', {
      query: { aud: AUD, lxm: 'chat.bsky.convo.sendMessage' },
      headers: bearer(plain),
    })
    assert.equal(chat.status, 400)
    // Ordinary methods are fine with any app password.
    const ok = await plain.com.atproto.server.getServiceAuth({ aud: AUD, lxm: 'app.bsky.feed.getTimeline' })
    await verify(ok.data.token, AUD, 'app.bsky.feed.getTimeline')
    // A privileged app password, and the real login, may.
    for (const agent of [priv, user.agent]) {
      const res = await agent.com.atproto.server.getServiceAuth({ aud: AUD, lxm })
      const payload = await verify(res.data.token, AUD, lxm)
      assert.equal(payload.iss, user.did)
    }
  })
})

describe('com.atproto.server.checkAccountStatus', () => {
  it('reports the repo, records and blobs, and activation, from our own indexes', async () => {
    const user = await createUser(pds)
    const fresh = (await user.agent.com.atproto.server.checkAccountStatus()).data
    const head = (await user.agent.com.atproto.sync.getLatestCommit({ did: user.did })).data
    assert.deepEqual(fresh, {
      activated: true,
      validDid: true,
      repoCommit: head.cid,
      repoRev: head.rev,
      repoBlocks: fresh.repoBlocks,
      indexedRecords: 0,
      privateStateValues: 0,
      expectedBlobs: 0,
      importedBlobs: 0,
    })
    assert.ok(fresh.repoBlocks >= 2, 'a commit and its empty tree')

    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3])
    const used = await user.agent.uploadBlob(png, { encoding: 'image/png' })
    await user.agent.uploadBlob(new Uint8Array([...png, 4]), { encoding: 'image/png' }) // stored, no record uses it
    await user.agent.post({
      text: 'with an image',
      embed: { $type: 'app.bsky.embed.images', images: [{ image: used.data.blob, alt: '' }] },
    })
    await user.agent.post({ text: 'plain' })
    const after = (await user.agent.com.atproto.server.checkAccountStatus()).data
    const head2 = (await user.agent.com.atproto.sync.getLatestCommit({ did: user.did })).data
    assert.equal(after.repoCommit, head2.cid)
    assert.equal(after.repoRev, head2.rev)
    assert.equal(after.indexedRecords, 2)
    assert.equal(after.expectedBlobs, 1)
    assert.equal(after.importedBlobs, 2, 'the reference counts every stored blob, temporary ones too')
    assert.ok(after.repoBlocks > fresh.repoBlocks)

    // Deactivated accounts may still ask (the migration flow checks before activating).
    await user.agent.com.atproto.server.deactivateAccount({})
    const off = (await user.agent.com.atproto.server.checkAccountStatus()).data
    assert.equal(off.activated, false)
    assert.equal(off.validDid, true)
    await user.agent.com.atproto.server.activateAccount()

    const anon = await xrpc(pds, 'com.atproto.server.checkAccountStatus')
    assert.equal(anon.status, 401)
  })

  it('validDid is false once the DID document names another PDS, or the directory drops our rotation key', async () => {
    // Real PLC operations, signed with this PDS's rotation key, as a migration away would make them.
    const rotationKey = await Secp256k1Keypair.import(pds.ctx.cfg.secrets.plcRotationKeyHex)
    const client = new plcLib.Client(plc.url)
    const signer = rotationKey as unknown as Parameters<typeof plcLib.updatePdsOp>[1]

    const moved = await createUser(pds)
    const lastOp = (await client.getLastOp(moved.did)) as plcLib.Operation
    await client.sendOperation(moved.did, await plcLib.updatePdsOp(lastOp, signer, 'https://elsewhere.example.com'))
    assert.equal((await moved.agent.com.atproto.server.checkAccountStatus()).data.validDid, false)

    const rotated = await createUser(pds)
    const other = await Secp256k1Keypair.create()
    const op = (await client.getLastOp(rotated.did)) as plcLib.Operation
    await client.sendOperation(rotated.did, await plcLib.updateRotationKeysOp(op, signer, [other.did()]))
    const status = (await rotated.agent.com.atproto.server.checkAccountStatus()).data
    assert.equal(status.validDid, false)
    assert.equal(status.activated, true)
  })
})

describe('com.atproto.server.getAccountInviteCodes', () => {
  let invitePds: TestPds
  before(async () => {
    invitePds = await startPds({ plcUrl: plc.url, env: { PDS_INVITE_REQUIRED: 'true' } })
  })
  after(() => invitePds.destroy())

  /** Codes from the operator: for `forAccount`, or for nobody in particular. */
  const adminCodes = async (forAccount: string | null, useCount: number, codeCount: number): Promise<string[]> => {
    const res = await xrpc(invitePds, 'com.atproto.server.createInviteCodes', {
      body: { ...(forAccount ? { forAccounts: [forAccount] } : {}), useCount, codeCount },
      headers: { authorization: invitePds.adminAuth },
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body.codes[0].codes
  }
  const signup = async (inviteCode: string) => {
    const agent = invitePds.agent()
    const handle = uniqueHandle('inv')
    const res = await agent.createAccount({ handle, email: `${handle.split('.')[0]}@example.com`, password: 'pw-inv-1', inviteCode })
    return { agent, did: res.data.did, handle }
  }

  it("lists the account's own codes with their uses; includeUsed=false leaves used-up ones out", async () => {
    const [ownerCode] = await adminCodes(null, 1, 1)
    const owner = await signup(ownerCode)
    const [single, spare] = await adminCodes(owner.did, 1, 2)
    const invitee = await signup(single)

    const all = (await owner.agent.com.atproto.server.getAccountInviteCodes({})).data.codes
    assert.equal(all.length, 2)
    const used = all.find((c) => c.code === single)!
    assert.deepEqual(
      { ...used, createdAt: 'x', uses: used.uses.map((u) => ({ ...u, usedAt: 'x' })) },
      {
        code: single,
        available: 1,
        disabled: false,
        forAccount: owner.did,
        createdBy: 'admin',
        createdAt: 'x',
        uses: [{ usedBy: invitee.did, usedAt: 'x' }],
      },
    )
    assert.ok(!Number.isNaN(Date.parse(used.createdAt)) && !Number.isNaN(Date.parse(used.uses[0].usedAt)))
    assert.deepEqual(all.find((c) => c.code === spare)!.uses, [])

    const unused = (await owner.agent.com.atproto.server.getAccountInviteCodes({ includeUsed: false })).data.codes
    assert.deepEqual(unused.map((c) => c.code), [spare])

    // Someone else's codes are not listed; the invitee has none.
    const theirs = (await invitee.agent.com.atproto.server.getAccountInviteCodes({ createAvailable: true })).data.codes
    assert.deepEqual(theirs, [])
  })

  it('needs a real login (no app passwords) and refuses bad booleans', async () => {
    const [ownerCode] = await adminCodes(null, 1, 1)
    const owner = await signup(ownerCode)
    const ap = await owner.agent.com.atproto.server.createAppPassword({ name: 'ap' })
    const apAgent = invitePds.agent()
    await apAgent.login({ identifier: owner.handle, password: ap.data.password })
    const res = await xrpc(invitePds, 'com.atproto.server.getAccountInviteCodes', { headers: bearer(apAgent) })
    assert.equal(res.status, 400)
    assert.equal(res.body.error, 'InvalidToken')
    const bad = await xrpc(invitePds, 'com.atproto.server.getAccountInviteCodes', {
      query: { includeUsed: 'yes' },
      headers: bearer(owner.agent),
    })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.error, 'InvalidRequest')
  })
})

describe('com.atproto.temp.checkSignupQueue', () => {
  it('answers activated: there is no signup queue', async () => {
    const user = await createUser(pds)
    const res = await xrpc(pds, 'com.atproto.temp.checkSignupQueue', { headers: bearer(user.agent) })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { activated: true })
    assert.equal((await xrpc(pds, 'com.atproto.temp.checkSignupQueue')).status, 401)
  })
})

describe('com.atproto.server.describeServer links and contact', () => {
  it('omits them when unset', async () => {
    const res = await xrpc(pds, 'com.atproto.server.describeServer')
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.links, {})
    assert.deepEqual(res.body.contact, {})
  })

  it('serves the configured privacy policy, terms of service and contact address', async () => {
    const env = {
      PDS_PRIVACY_POLICY_URL: 'https://example.com/legal/privacy?v=2',
      PDS_TERMS_OF_SERVICE_URL: 'https://example.com/legal/terms/',
      PDS_CONTACT_EMAIL_ADDRESS: 'ops@example.com',
    }
    const described = await startPds({ plcUrl: plc.url, env })
    try {
      const res = await described.agent().com.atproto.server.describeServer()
      assert.deepEqual(res.data.links, {
        privacyPolicy: 'https://example.com/legal/privacy?v=2',
        termsOfService: 'https://example.com/legal/terms/',
      })
      assert.deepEqual(res.data.contact, { email: 'ops@example.com' })
    } finally {
      await described.destroy()
    }
    // Only one of them: the others stay out.
    const one = await startPds({ plcUrl: plc.url, env: { PDS_TERMS_OF_SERVICE_URL: 'https://example.com/tos' } })
    try {
      const res = await xrpc(one, 'com.atproto.server.describeServer')
      assert.deepEqual(res.body.links, { termsOfService: 'https://example.com/tos' })
      assert.deepEqual(res.body.contact, {})
    } finally {
      await one.destroy()
    }
  })

  it('refuses bad values at startup, naming the variable', () => {
    const cases: [string, string, RegExp][] = [
      ['PDS_PRIVACY_POLICY_URL', 'javascript:alert(1)', /^PDS_PRIVACY_POLICY_URL: expected an http\(s\) URL/],
      ['PDS_TERMS_OF_SERVICE_URL', 'not a url', /^PDS_TERMS_OF_SERVICE_URL: expected an http\(s\) URL/],
      ['PDS_CONTACT_EMAIL_ADDRESS', 'nobody', /^PDS_CONTACT_EMAIL_ADDRESS: expected an email address/],
    ]
    for (const [name, value, message] of cases) {
      assert.throws(() => parseConfig({ PDS_DATA_DIRECTORY: pds.dataDir, [name]: value }), (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.match((err as Error).message, message)
        return true
      })
    }
  })
})
