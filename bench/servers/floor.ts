// The floor under any PDS on this machine, for `npm run bench:ceiling`: a server that does only what a createRecord
// cannot avoid — read the HTTP request, parse its JSON, store it in one synchronous=FULL SQLite transaction (the
// durability every PDS write needs: one fsync), answer JSON. No auth, no validation, no repo, no signature, no
// firehose. Same launcher contract as bench/servers/aurora.ts (health on /xrpc/_health, one JSON ready line).
//
//   node bench/servers/floor.ts --port 3000 --data /tmp/dir   (--plc is accepted and ignored)
import http from 'node:http'
import path from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { TID } from '@atproto/common-web'

const { values } = parseArgs({ options: { plc: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' } } })
if (!values.port || !values.data) {
  console.error('usage: node bench/servers/floor.ts --port N --data DIR')
  process.exit(2)
}
const db = new Database(path.join(values.data, 'floor.sqlite'))
db.pragma('journal_mode = WAL')
db.pragma('synchronous = FULL') // as src/db/index.ts
db.exec('CREATE TABLE IF NOT EXISTS record (id INTEGER PRIMARY KEY, did TEXT NOT NULL, value TEXT NOT NULL)')
const insert = db.prepare('INSERT INTO record (did, value) VALUES (?, ?)')
const store = db.transaction((did: string, value: string) => insert.run(did, value))

// A valid CID for the answer (the client checks the format); the same for every record.
const CID = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'

const server = http.createServer((req, res) => {
  const url = req.url ?? ''
  if (url.startsWith('/xrpc/_health')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  if (!url.startsWith('/xrpc/com.atproto.repo.createRecord')) return void res.writeHead(404).end()
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { repo: string; collection: string; record: unknown }
    store(input.repo, JSON.stringify(input.record))
    const rkey = TID.nextStr()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ uri: `at://${input.repo}/${input.collection}/${rkey}`, cid: CID, commit: { cid: CID, rev: rkey } }))
  })
})
server.keepAliveTimeout = 90_000
server.listen(Number(values.port), '127.0.0.1', () => console.log(JSON.stringify({ ready: true, server: 'floor' })))
process.once('SIGTERM', () => server.close(() => (db.close(), process.exit(0))))
