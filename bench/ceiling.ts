// What the write figures could be on this machine at best: the benchmark's own sequential and concurrent
// createRecord loops (bench/lib/workload.ts, the same AtpAgent client) against the floor server
// (bench/servers/floor.ts: HTTP + JSON + one synchronous=FULL SQLite transaction per write, nothing else), then
// against Aurora, in the same run. The floor's figures bound any Node PDS that acknowledges writes durably here; the
// ratio Aurora/floor says how much of that bound the PDS work (auth, validation, MST, signature, firehose) leaves.
//
//   npm run bench:ceiling -- [--n 300] [--concurrent 20]
import { AtpAgent } from '@atproto/api'
import { parseArgs } from 'node:util'
import { startPlc } from '../test/helpers/plc.ts'
import { startServerProcess } from './lib/server-process.ts'
import * as w from './lib/workload.ts'

const { values } = parseArgs({ options: { n: { type: 'string', default: '300' }, concurrent: { type: 'string', default: '20' } } })
const N = Number(values.n)
const C = Number(values.concurrent)

/** An agent with a session the floor server never checks. */
function floorAccount(url: string, i: number): w.Account {
  const agent = new AtpAgent({ service: url })
  const did = `did:plc:floor${String(i).padStart(19, 'a')}`
  agent.sessionManager.session = { did, handle: `floor${i}.test`, accessJwt: 'floor', refreshJwt: 'floor', active: true }
  return { agent, did }
}

const plc = await startPlc()
const rows: { server: string; sequentialPerSec: number; concurrentPerSec: number; cpuMsPerWrite: number }[] = []
try {
  for (const name of ['floor', 'aurora'] as const) {
    const server = await startServerProcess(name, plc.url)
    try {
      const accounts =
        name === 'floor'
          ? Array.from({ length: C }, (_, i) => floorAccount(server.url, i))
          : await w.createAccounts(server.url, C, 'ceil')
      await w.sequentialWrites(server.pid, accounts[0], 30) // warm-up, as the paired run
      const seq = await w.sequentialWrites(server.pid, accounts[0], N)
      const conc = await w.concurrentWrites(server.pid, accounts, Math.ceil(N / C))
      rows.push({ server: name, sequentialPerSec: seq.perSec, concurrentPerSec: conc.perSec, cpuMsPerWrite: seq.serverCpuMsPerWrite })
    } finally {
      await server.stop()
    }
  }
} finally {
  await plc.close()
}
const [floor, aurora] = rows
console.log(`| figure | floor | Aurora | Aurora/floor |\n| --- | ---: | ---: | ---: |`)
for (const [label, key] of [
  ['sequential createRecord/s', 'sequentialPerSec'],
  [`concurrent createRecord/s (${C} accounts)`, 'concurrentPerSec'],
  ['server CPU per sequential write, ms', 'cpuMsPerWrite'],
] as const) {
  console.log(`| ${label} | ${floor[key]} | ${aurora[key]} | ${(aurora[key] / floor[key]).toFixed(2)} |`)
}
