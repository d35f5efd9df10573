// Refusing an upgrade request: a plain HTTP response with the XRPC error body, written on the raw socket (the
// request never reached Express).
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'

export function refuseUpgrade(socket: Duplex, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message })
  socket.on('error', () => {}) // the peer may already be gone; nothing to do about it
  socket.once('finish', () => socket.destroy())
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  )
}
