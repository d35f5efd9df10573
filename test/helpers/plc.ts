// A real PLC directory (@did-plc/server) in-process, on its in-memory database.
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
