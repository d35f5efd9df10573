// An atproto OAuth client and a real browser for end-to-end sign-in tests: @atproto/oauth-client-node as a loopback
// client (client id `http://localhost?redirect_uri=…&scope=…`, no client metadata document to host), Debian's Chromium
// driven by puppeteer-core through the authorization server's own sign-in and consent pages
// (@atproto/oauth-provider-ui), and a callback server on 127.0.0.1 that receives the redirect.
//
// The target server is only a URL: the same harness runs against the reference PDS (@atproto/pds) and against ours.
// Identity resolution goes handle → DID (the server's own com.atproto.identity.resolveHandle) → DID document (the test
// PLC directory, over http) → PDS → its protected-resource metadata → authorization server, all on loopback
// (`allowHttp`).
//
// Selectors follow the UI's source (oauth-provider-ui 0.10, src/components/sign-in-form.tsx and consent-form.tsx):
// the identifier input is `input[name="username"]` (autocomplete "username"; read-only and pre-filled when the client
// sent a login_hint, which oauth-client does when authorize() is given a handle), the password input is
// `input[name="password"]` (type password), and the submit buttons are found by their text: "Sign in", then
// "Authorize" on the consent screen. An error notice (`role="alert"`: a wrong password, an error page) where the next
// step was expected ends the flow at once with an OAuthPageError carrying its text.
import { EventEmitter, once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {
  NodeOAuthClient,
  requestLocalLock,
  type NodeSavedSession,
  type NodeSavedState,
  type OAuthSession,
} from '@atproto/oauth-client-node'
import type { Browser, Page } from 'puppeteer-core'
import { launchChromium } from './chromium.ts'

/** Bound on each wait in the browser (a page, a button, the redirect back), in ms. */
const STEP_TIMEOUT_MS = 15_000

/** One HTTP exchange made by a client (its token requests and its XRPC calls), as the fetch wrapper saw it. */
export type RecordedRequest = {
  method: string
  url: string
  /** The request's headers, lower-cased names (authorization, dpop, …). */
  headers: Record<string, string>
  status: number
  responseHeaders: Headers
}

export type SignInOptions = {
  /** The PDS to sign in at (`http://localhost:<port>`); it also resolves the handle. */
  pdsUrl: string
  handle: string
  password: string
  /** The scope to ask for, space-separated; it is also the loopback client id's `scope`. */
  scope: string
  /** Save a PNG of the sign-in page and of the consent page (paths in `screenshots`). */
  screenshots?: boolean
}

/** The authorization step done, the code not yet exchanged: what a test needs to misuse the token endpoint. */
export type Authorized = {
  client: NodeOAuthClient
  /** The callback's query: code, state, iss. */
  params: URLSearchParams
  /** What the client saved for this flow: the PKCE verifier, the DPoP key (private JWK), the issuer. */
  state: NodeSavedState
  redirectUri: string
  requests: RecordedRequest[]
  /** The client's session store (DID → token set and DPoP key), filled by the token exchange. */
  sessions: Map<string, NodeSavedSession>
  screenshots: { signIn?: string; consent?: string }
}

export type SignedIn = Authorized & {
  session: OAuthSession
  /** The client's stored session for this DID now: its token set (access/refresh token) and DPoP key. */
  stored: () => NodeSavedSession
}

export type OAuthHarness = {
  browser: Browser
  /** Where screenshots go (deleted by close()). */
  dir: string
  /** client.authorize → the authorization server's pages in Chromium → the redirect back; no token exchange. */
  authorize: (opts: SignInOptions) => Promise<Authorized>
  /** authorize(), then client.callback(): a live OAuthSession. */
  signIn: (opts: SignInOptions) => Promise<SignedIn>
  close: () => Promise<void>
}

/**
 * Start the callback server and Chromium. `plcUrl` is the test PLC directory the clients resolve DIDs with. Needs the
 * chromium program (requireProgram throws, naming the package, when it is missing).
 */
export async function startOAuthHarness(opts: { plcUrl: string }): Promise<OAuthHarness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-oauth-'))
  const browser = await launchChromium(path.join(dir, 'profile')).catch((err) => {
    rmSync(dir, { recursive: true, force: true })
    throw err
  })
  const callbacks = new EventEmitter()
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><title>Signed in</title><p>You can close this window.</p>')
    callbacks.emit(url.pathname, url.searchParams)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const callbackOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  let flows = 0
  async function authorize(o: SignInOptions): Promise<Authorized> {
    flows += 1
    // One client per flow, each with its own redirect path: flows can't take each other's callback.
    const redirectUri = `${callbackOrigin}/callback/${flows}`
    const clientId = `http://localhost?${new URLSearchParams({ redirect_uri: redirectUri, scope: o.scope })}`
    const states = new Map<string, NodeSavedState>()
    const sessions = new Map<string, NodeSavedSession>()
    const requests: RecordedRequest[] = []
    const recordingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init)
      const headers = Object.fromEntries(request.headers)
      const response = await fetch(request)
      requests.push({ method: request.method, url: request.url, headers, status: response.status, responseHeaders: response.headers })
      return response
    }
    const client = new NodeOAuthClient({
      clientMetadata: {
        client_id: clientId,
        redirect_uris: [redirectUri],
        scope: o.scope,
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        dpop_bound_access_tokens: true,
      },
      stateStore: mapStore(states),
      sessionStore: mapStore(sessions),
      requestLock: requestLocalLock,
      handleResolver: o.pdsUrl,
      plcDirectoryUrl: opts.plcUrl,
      allowHttp: true,
      fetch: recordingFetch,
    })

    const authorizeUrl = await client.authorize(o.handle, { scope: o.scope, signal: AbortSignal.timeout(STEP_TIMEOUT_MS) })
    const callbackPath = new URL(redirectUri).pathname
    const stop = new AbortController() // ends the wait for the callback when a browser step fails first
    const callback = once(callbacks, callbackPath, { signal: AbortSignal.any([stop.signal, AbortSignal.timeout(3 * STEP_TIMEOUT_MS)]) })
    callback.catch(() => {}) // awaited below, unless a browser step throws first
    const screenshots: Authorized['screenshots'] = {}
    // A fresh browser context per flow: no device cookie from an earlier sign-in, so the sign-in form always shows.
    const context = await browser.createBrowserContext()
    try {
      const page = await context.newPage()
      await page.goto(authorizeUrl.href, { waitUntil: 'domcontentloaded', timeout: STEP_TIMEOUT_MS })
      const password = await waitFor(page, '//input[@name="password"]')
      const username = await waitFor(page, '//input[@name="username"]')
      // With a login hint the identifier is pre-filled and read-only; otherwise type it.
      if (!(await username.evaluate((el) => (el as unknown as { value: string }).value))) await username.type(o.handle)
      await password.type(o.password)
      if (o.screenshots) screenshots.signIn = await shoot(page, path.join(dir, `sign-in-${flows}.png`))
      await (await waitFor(page, buttonWithText('Sign in'))).click()
      const consent = await waitFor(page, buttonWithText('Authorize'))
      if (o.screenshots) screenshots.consent = await shoot(page, path.join(dir, `consent-${flows}.png`))
      await consent.click()
      const [params] = (await callback) as [URLSearchParams]
      const state = states.get(params.get('state') ?? '')
      if (!state) throw new Error(`the callback's state matches no flow of this client: ${params}`)
      return { client, params, state, redirectUri, requests, sessions, screenshots }
    } finally {
      stop.abort()
      await context.close()
    }
  }

  return {
    browser,
    dir,
    authorize,
    async signIn(o) {
      const authorized = await authorize(o)
      const { session } = await authorized.client.callback(authorized.params)
      return {
        ...authorized,
        session,
        stored: () => {
          const stored = authorized.sessions.get(session.did)
          if (!stored) throw new Error(`no stored session for ${session.did} (signed out?)`)
          return stored
        },
      }
    },
    async close() {
      await browser.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** An XPath expression for a button whose visible text is exactly `text`. */
function buttonWithText(text: string): string {
  return `//button[normalize-space(.)="${text}"]`
}

/** The page showed an error (the UI's `role="alert"` notice) where the next step was expected: a refused sign-in. */
export class OAuthPageError extends Error {
  /** The alert's text, e.g. "Wrong identifier or password". */
  readonly alert: string
  constructor(alert: string, url: string) {
    super(`the authorization page showed an error: ${alert} (at ${url})`)
    this.name = 'OAuthPageError'
    this.alert = alert
  }
}

/**
 * The visible element matching `xpath`, or, when the page shows an error notice first, an OAuthPageError with its
 * text. On timeout the error says which step and what the page showed.
 */
async function waitFor(page: Page, xpath: string) {
  let found
  try {
    found = await page.waitForSelector(`::-p-xpath(${xpath} | //*[@role="alert"])`, { visible: true, timeout: STEP_TIMEOUT_MS })
  } catch (err) {
    const text = await page.$eval('body', (el) => (el as unknown as { innerText: string }).innerText).catch(() => '')
    throw new Error(`waiting for ${xpath} at ${page.url()}: ${(err as Error).message}\npage text: ${text.slice(0, 500)}`)
  }
  if (!found) throw new Error(`waiting for ${xpath} at ${page.url()}: no element`)
  const alert = await found.evaluate((el) =>
    el.getAttribute('role') === 'alert' ? ((el as unknown as { innerText: string }).innerText ?? '').trim() : null,
  )
  if (alert !== null) throw new OAuthPageError(alert, page.url())
  return found
}

async function shoot(page: Page, file: string): Promise<string> {
  await page.screenshot({ path: file as `${string}.png`, fullPage: true })
  return file
}

/** A SimpleStore (get/set/del) on a Map: the client's state and session stores, in memory. */
function mapStore<V>(map: Map<string, V>) {
  return {
    get: async (key: string) => map.get(key),
    set: async (key: string, value: V) => void map.set(key, value),
    del: async (key: string) => void map.delete(key),
  }
}
