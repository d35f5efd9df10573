// Debian's Chromium, headless, through puppeteer-core: the one launch every browser test uses.
import puppeteer, { type Browser } from 'puppeteer-core'
import { CHROMIUM, requireProgram } from './system.ts'

/**
 * Launch headless Chromium with its profile in `userDataDir` (the caller creates and deletes it). The flags are the
 * ones this machine needs: no sandbox (a container without user namespaces), no GPU, and no background traffic
 * (component updates, sync, QUIC probes) that would reach out of the test. Throws, naming the package, when chromium
 * is not installed (suites skip before that with skipWithout(CHROMIUM)).
 */
export function launchChromium(userDataDir: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath: requireProgram(CHROMIUM),
    headless: true,
    userDataDir,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}
