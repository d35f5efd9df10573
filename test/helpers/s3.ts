// A real S3-compatible server on loopback (s3rver, from the npm registry) for the blob store's tests. Operators use
// MinIO or AWS S3; s3rver speaks the same REST API (signatures, multipart, copy, multi-delete) from a folder.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'

export type TestS3 = {
  endpoint: string
  bucket: string
  /** The PDS_BLOBSTORE_S3_* variables for a server using this bucket. */
  env: Record<string, string>
  /** Every key under `prefix`. */
  keys: (prefix?: string) => Promise<string[]>
  put: (key: string, body: string | Buffer) => Promise<void>
  /** Stop answering (the port closes), as a store that is down. */
  stop: () => Promise<void>
  /** Answer again on the same port, with the same objects. */
  resume: () => Promise<void>
  close: () => Promise<void>
}

// s3rver checks signatures against its one built-in key pair.
const ACCESS_KEY = 'S3RVER'
const SECRET_KEY = 'S3RVER'

export async function startS3(bucket = 'aurora-blobs'): Promise<TestS3> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'aurora-s3-'))
  const start = async (port: number) => {
    const server = new S3rver({ port, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: bucket }] })
    const addr = (await server.run()) as { port: number }
    return { server, port: addr.port }
  }
  let running: Awaited<ReturnType<typeof start>> | null = await start(0)
  const port = running.port
  const endpoint = `http://127.0.0.1:${port}`
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  })
  const stop = async () => {
    await running?.server.close()
    running = null
  }
  return {
    endpoint,
    bucket,
    env: {
      PDS_BLOBSTORE_S3_BUCKET: bucket,
      PDS_BLOBSTORE_S3_ENDPOINT: endpoint,
      PDS_BLOBSTORE_S3_REGION: 'us-east-1',
      PDS_BLOBSTORE_S3_ACCESS_KEY_ID: ACCESS_KEY,
      PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: SECRET_KEY,
      PDS_BLOBSTORE_S3_FORCE_PATH_STYLE: 'true',
      // Short, so that a store that is down fails a request in seconds (the SDK also retries twice).
      PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS: '2000',
    },
    keys: async (prefix = '') => {
      const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
      return (res.Contents ?? []).map((o) => o.Key!).sort()
    },
    put: async (key, body) => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
    },
    stop,
    resume: async () => {
      if (!running) running = await start(port)
    },
    close: async () => {
      await stop()
      client.destroy()
      rmSync(directory, { recursive: true, force: true })
    },
  }
}
