// A real PLC directory (@did-plc/server) in-process, on its in-memory database, and a switchable gate in front of it.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Database, PlcServer } from '@did-plc/server'

export type TestPlc = {
  url: string
  close: () => Promise<void>
  /** Every DID the directory holds (its /export is empty on the in-memory database, so this reads that directly). */
  dids: () => string[]
}

export async function startPlc(): Promise<TestPlc> {
  const db = Database.mock()
  const plc = PlcServer.create({ db, port: 0 })
  const server = await plc.start()
  const { port } = server.address() as AddressInfo
  return { url: `http://localhost:${port}`, close: () => plc.destroy(), dids: () => Object.keys(db.contents) }
}

export type PlcGate = {
  url: string
  /** While true, every connection is dropped. */
  down: boolean
  /** Run `fn` with the directory down. */
  whileDown: <T>(fn: () => Promise<T>) => Promise<T>
  close: () => Promise<void>
}

/** An HTTP hop in front of the PLC directory; `down = true` drops every connection, as a directory that is down. */
export async function startPlcGate(target: string): Promise<PlcGate> {
  const gate: PlcGate = {
    url: '',
    down: false,
    async whileDown(fn) {
      gate.down = true
      try {
        return await fn()
      } finally {
        gate.down = false
      }
    },
    close: () => Promise.resolve(),
  }
  const server = http.createServer(async (req, res) => {
    if (gate.down) {
      req.socket.destroy()
      return
    }
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = chunks.length ? Buffer.concat(chunks) : undefined
    const type = req.headers['content-type']
    const upstream = await fetch(target + req.url, { method: req.method, headers: type ? { 'content-type': type } : {}, body })
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' })
    res.end(Buffer.from(await upstream.arrayBuffer()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  gate.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  gate.close = () => new Promise<void>((resolve) => server.close(() => resolve()))
  return gate
}
