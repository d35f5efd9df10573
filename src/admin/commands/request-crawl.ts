import { CliError } from '../../cli/errors.ts'
import { requestCrawl as askRelay } from '../../relay/request-crawl.ts'
import { EXIT, printJson, type Command } from '../command.ts'

/**
 * Ask relays to crawl this server now (com.atproto.sync.requestCrawl with our public hostname), as the reference's
 * `pdsadmin request-crawl`: the relays given (comma-separated or several), else PDS_FEDERATION_RELAY_URLS. The
 * server asks them by itself on start and after writes; this is for the operator who does not want to wait.
 */
export const requestCrawl: Command = {
  name: 'request-crawl',
  args: '[relay URL...]',
  summary: 'ask relays (default: the configured ones) to crawl this server now',
  arity: [0, 20],
  run: async (ctx, positionals) => {
    const cfg = ctx.config()
    const hostname = new URL(cfg.publicUrl).hostname
    const given = positionals.flatMap((p) => p.split(',')).map((s) => s.trim()).filter(Boolean)
    const relays = given.length ? given.map(relayUrl) : cfg.federation.relayUrls
    const results = await Promise.all(
      relays.map(async (relay) => ({
        relay,
        ...(await askRelay(relay, hostname, { signal: AbortSignal.timeout(15_000), userAgent: 'aurora-locus-admin' })),
      })),
    )
    if (ctx.json) printJson(ctx, { hostname, results })
    else {
      for (const r of results) {
        if (r.ok) ctx.out.ok(`${r.relay} will crawl ${hostname}`)
        else ctx.out.fail(`${r.relay} did not accept: ${r.error}`)
      }
    }
    const failed = results.filter((r) => !r.ok).length
    if (failed) throw new CliError(`${failed} of ${results.length} relays did not accept the request`, EXIT.failed)
  },
}

/** A relay given on the command line: an http(s) URL, or a bare host name (https). */
function relayUrl(value: string): string {
  try {
    const url = new URL(value.includes('://') ? value : `https://${value}`)
    if (url.protocol === 'https:' || url.protocol === 'http:') return url.origin
  } catch {}
  throw new CliError(`${value} is not a relay URL (such as https://bsky.network)`, EXIT.usage)
}
