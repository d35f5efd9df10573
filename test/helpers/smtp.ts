// A real SMTP server for tests (`smtp-server` on loopback, no TLS, no login needed) that keeps every message it
// accepts and lets a test await the next one for an address, with a bound. Recipients whose address starts with
// "bounce" are refused at RCPT TO, like a mailbox that does not exist, for testing failed sends.
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

export type ReceivedMail = {
  /** Envelope sender and recipients, as the client gave them in MAIL FROM / RCPT TO. */
  from: string
  to: string[]
  /** Header fields by lower-case name (unfolded), and the body with its transfer encoding undone. */
  headers: Record<string, string>
  subject: string
  text: string
  /** The first email token ("XXXXX-XXXXX") in the body, if any. */
  token: string | undefined
}

export class TestSmtp {
  readonly url: string
  /** Messages received and not yet taken by `next`, oldest first. */
  readonly inbox: ReceivedMail[] = []
  private readonly server: SMTPServer
  private readonly waiters = new Set<() => void>()

  private constructor(server: SMTPServer, port: number) {
    this.server = server
    this.url = `smtp://127.0.0.1:${port}`
  }

  static async start(): Promise<TestSmtp> {
    let smtp!: TestSmtp
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith('bounce')) {
          const err = Object.assign(new Error('No such mailbox'), { responseCode: 550 })
          return callback(err)
        }
        callback()
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = []
        stream.on('data', (c: Buffer) => chunks.push(c))
        stream.on('end', () => {
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : ''
          smtp.receive(from, session.envelope.rcptTo.map((r) => r.address), Buffer.concat(chunks).toString('utf8'))
          callback()
        })
      },
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    smtp = new TestSmtp(server, (server.server.address() as AddressInfo).port)
    return smtp
  }

  /** Take the oldest message to `to` from the inbox, waiting up to `ms` for one to arrive. */
  async next(to: string, ms = 10_000): Promise<ReceivedMail> {
    const signal = AbortSignal.timeout(ms)
    for (;;) {
      const i = this.inbox.findIndex((m) => m.to.includes(to))
      if (i >= 0) return this.inbox.splice(i, 1)[0]
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.waiters.delete(wake)
          reject(new Error(`no mail to ${to} within ${ms} ms`))
        }
        const wake = () => {
          signal.removeEventListener('abort', onAbort)
          this.waiters.delete(wake)
          resolve()
        }
        if (signal.aborted) return onAbort()
        signal.addEventListener('abort', onAbort, { once: true })
        this.waiters.add(wake)
      })
    }
  }

  /** Messages to `to` still in the inbox. */
  pending(to: string): ReceivedMail[] {
    return this.inbox.filter((m) => m.to.includes(to))
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private receive(from: string, to: string[], raw: string): void {
    this.inbox.push(parseMail(from, to, raw))
    for (const wake of [...this.waiters]) wake()
  }
}

/** Enough of RFC 5322 / MIME for single-part text mails: unfolded headers, and a 7bit or quoted-printable body. */
export function parseMail(from: string, to: string[], raw: string): ReceivedMail {
  const split = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ')
  let body = raw.slice(split + 4)
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase()
  if (encoding === 'quoted-printable') {
    body = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)))
  } else if (encoding === 'base64') {
    body = Buffer.from(body, 'base64').toString('utf8')
  }
  const text = body.replace(/\r\n/g, '\n')
  const token = /\b[A-Z2-7]{5}-[A-Z2-7]{5}\b/.exec(text)?.[0]
  return { from, to, headers, subject: headers.subject ?? '', text, token }
}
