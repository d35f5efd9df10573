// A real PLC directory (@did-plc/server) in-process, on its in-memory database.
import type { AddressInfo } from 'node:net'
import { Database, PlcServer } from '@did-plc/server'

export type TestPlc = { url: string; close: () => Promise<void> }

export async function startPlc(): Promise<TestPlc> {
  const plc = PlcServer.create({ db: Database.mock(), port: 0 })
  const server = await plc.start()
  const { port } = server.address() as AddressInfo
  return { url: `http://localhost:${port}`, close: () => plc.destroy() }
}
