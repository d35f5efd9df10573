// Real image bytes for upload tests, built in code (no binary fixtures): servers that sniff types see real PNGs.
import zlib from 'node:zlib'

function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const head = Buffer.alloc(4)
  head.writeUInt32BE(data.length)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(zlib.crc32(body))
  return Buffer.concat([head, body, crc])
}

/** A valid 1x1 greyscale PNG; `padding` bytes of tEXt comment after the image data make it as large as needed. */
export function png(padding = 0, pixel = 0): Buffer {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]) // 1x1, 8-bit greyscale, no interlace
  const idat = zlib.deflateSync(Buffer.from([0, pixel])) // filter type 0, one pixel
  const text = padding ? [pngChunk('tEXt', Buffer.concat([Buffer.from('Comment\0'), Buffer.alloc(padding, 'a')]))] : []
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), ...text, pngChunk('IEND', new Uint8Array())])
}
