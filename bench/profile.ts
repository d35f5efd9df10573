// Where the server's CPU goes: runs one workload against Aurora in its own process under `node --cpu-prof`, then
// prints the functions with the most self time and the same time summed by where the code lives (our src/ modules,
// each node_modules package, Node itself). The .cpuprofile is kept for Chrome DevTools / speedscope.
//
//   npm run bench:profile -- [--workload sequential|concurrent|applyWrites|getRepo] [--n 1000] [--top 30]
//   npm run bench:profile -- --workload firehose --n 200 [--subscribers 100] [--rate 10]
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { startPlc } from '../test/helpers/plc.ts'
import { startServerProcess } from './lib/server-process.ts'
import * as w from './lib/workload.ts'

const { values } = parseArgs({
  options: {
    workload: { type: 'string', default: 'sequential' },
    n: { type: 'string', default: '1000' },
    top: { type: 'string', default: '30' },
    subscribers: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10' },
  },
})
const N = Number(values.n)

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const profDir = mkdtempSync(path.join(os.tmpdir(), 'aurora-prof-'))
const plc = await startPlc()
const server = await startServerProcess('aurora', plc.url, [`--cpu-prof`, `--cpu-prof-dir=${profDir}`])
try {
  const pid = server.pid
  switch (values.workload) {
    case 'sequential': {
      const [a] = await w.createAccounts(server.url, 1, 'prof')
      console.log(await w.sequentialWrites(pid, a, N))
      break
    }
    case 'concurrent': {
      const accounts = await w.createAccounts(server.url, 20, 'prof')
      console.log(await w.concurrentWrites(pid, accounts, Math.ceil(N / 20)))
      break
    }
    case 'applyWrites': {
      const [a] = await w.createAccounts(server.url, 1, 'prof')
      console.log(await w.batchedWrites(pid, a, Math.ceil(N / 10), 10))
      break
    }
    case 'getRepo': {
      const [a] = await w.createAccounts(server.url, 1, 'prof')
      await w.fillRepo(a, N)
      console.log(await w.getRepo(pid, server.url, plc.url, a.did, N, 5))
      break
    }
    case 'firehose': {
      // The fixed-rate fan-out phase of the paired run: n writes from 4 accounts at `rate`/s to live subscribers.
      const accounts = await w.createAccounts(server.url, 4, 'prof')
      const firehose = await w.openSubscribers(server.url, Number(values.subscribers), accounts[0])
      try {
        console.log(await w.fixedRateFanout(pid, firehose, accounts, N, Number(values.rate)))
      } finally {
        firehose.close()
      }
      break
    }
    default:
      throw new Error(`unknown workload ${values.workload}`)
  }
} finally {
  // SIGTERM: the server closes and exits 0, which is when Node writes the profile.
  await server.stop()
  await plc.close()
}

const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
if (!file) throw new Error(`no profile written in ${profDir}`)
const profile = JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as Profile
const selfUs = new Map<number, number>()
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...selfUs.values()].reduce((a, b) => a + b, 0)

const ROOT = path.resolve(import.meta.dirname, '..')
/** Where a frame's code lives: src/<module>, a package, node:internal, or V8/GC. */
function place(url: string): string {
  if (!url) return '(native / V8)'
  const file = url.replace(/^file:\/\//, '')
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)
  if (pkg) return pkg[1]
  if (file.startsWith(ROOT)) return path.relative(ROOT, file)
  if (url.startsWith('node:')) return 'node (' + url.slice(5).split('/')[0] + ')'
  return url
}
const byFunction = new Map<string, number>()
const byPlace = new Map<string, number>()
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0
  if (!us) continue
  const { functionName, url, lineNumber } = node.callFrame
  const where = place(url)
  const key = `${functionName || '(anonymous)'}  ${where}${url ? ':' + (lineNumber + 1) : ''}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + us)
  const group = where.startsWith('src/') ? where.split('/').slice(0, 2).join('/') : where
  byPlace.set(group, (byPlace.get(group) ?? 0) + us)
}
const show = (title: string, m: Map<string, number>, top: number) => {
  console.log(`\n${title} (of ${(total / 1000).toFixed(0)} ms sampled)`)
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
  }
}
// Inclusive time of our own functions (and the packages they call into): each sample counts once for every distinct
// src/ function on its stack, so phases of a request (validation, the MST, signing, the transaction) can be compared.
const parent = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const inclusive = new Map<string, number>()
profile.samples.forEach((id, i) => {
  const us = profile.timeDeltas[i] ?? 0
  const seen = new Set<string>()
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const { functionName, url, lineNumber } = byId.get(cur)!.callFrame
    const where = place(url)
    if (!where.startsWith('src/')) continue
    const key = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`
    if (seen.has(key)) continue
    seen.add(key)
    inclusive.set(key, (inclusive.get(key) ?? 0) + us)
  }
})
show('self time by function', byFunction, Number(values.top))
show('inclusive time of src/ functions', inclusive, Number(values.top))
show('self time by place', byPlace, Number(values.top))
console.log(`\nprofile: ${path.join(profDir, file)}`)
