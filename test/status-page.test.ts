// The operator's status page at GET /, rendered in a real headless Chromium (Debian's package via puppeteer-core).
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'puppeteer-core'
import WebSocket from 'ws'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, type TestPds } from './helpers/pds.ts'
import { launchChromium } from './helpers/chromium.ts'
import { CHROMIUM, skipWithout } from './helpers/system.ts'

describe('status page', { skip: skipWithout(CHROMIUM) }, () => {
  let plc: TestPlc
  let pds: TestPds
  let browser: Browser
  let profile: string

  before(async () => {
    plc = await startPlc()
    pds = await startPds({ plcUrl: plc.url })
    profile = mkdtempSync(path.join(os.tmpdir(), 'aurora-chromium-'))
    browser = await launchChromium(profile)
  })
  after(async () => {
    await browser?.close()
    await pds?.destroy()
    await plc?.close()
    if (profile) rmSync(profile, { recursive: true, force: true })
  })

  it('shows the live numbers to a browser', async () => {
    const alice = await createUser(pds)
    await alice.agent.com.atproto.repo.createRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'status', createdAt: new Date().toISOString() },
    })
    // One live firehose subscriber; wait (bounded) for the server to count it.
    const connected = once(pds.ctx.firehose, 'connect', { signal: AbortSignal.timeout(5000) })
    const ws = new WebSocket(`${pds.url.replace('http', 'ws')}/xrpc/com.atproto.sync.subscribeRepos`)
    await connected

    const page = await browser.newPage()
    const res = await page.goto(pds.url + '/', { waitUntil: 'load' })
    assert.equal(res?.status(), 200)
    const text = (sel: string) => page.$eval(sel, (el) => el.textContent?.trim())
    assert.equal(await text('#version'), pds.ctx.version)
    assert.equal(await text('#accounts'), String(pds.ctx.accounts.store.count()))
    assert.equal(await text('#latest-seq'), String(pds.ctx.sequencer.latestSeq()))
    assert.equal(await text('#subscribers'), '1')
    // Public: how many, not who.
    const address = pds.ctx.firehose.stats().subscribers[0].remoteAddress
    assert.equal(await page.$('#subscriber-table'), null)
    assert.match((await text('#subscriber-summary')) ?? '', /^1 connected/)
    assert.ok(!(await page.content()).includes(address), `the public page shows no subscriber address (${address})`)
    assert.match((await text('body')) ?? '', /Federation is off/)
    const screenshot = await page.screenshot({ type: 'png' })
    assert.ok(screenshot.length > 1000)

    // The operator's view: the browser answers the Basic challenge with the admin password, and the page lists the
    // subscribers with their addresses.
    const operator = await browser.newPage()
    await operator.authenticate({ username: 'admin', password: pds.ctx.cfg.secrets.adminPassword })
    assert.equal((await operator.goto(pds.url + '/status', { waitUntil: 'load' }))?.status(), 200)
    const rows = await operator.$$eval('#subscriber-table tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''))
    assert.equal(rows.length, 1)
    assert.ok(rows[0].includes(address))
    ws.close()
  })

  it('keeps the plain-text banner for non-browser clients', async () => {
    const res = await fetch(pds.url + '/')
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
    assert.match(await res.text(), /AT Protocol Personal Data Server/)
  })
})
