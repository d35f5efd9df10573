// The authorization server's signing key: a P-256 private key given as hex (PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX,
// or generated into secrets.json on localhost), as the ES256 JWK the provider signs access tokens with and publishes
// at /oauth/jwks. Its `kid` is the key's JWK thumbprint, so it changes exactly when the key does.
import { createECDH, createHash } from 'node:crypto'
import { JoseKey } from '@atproto/oauth-provider/provider'

/**
 * The ES256 signing key for `hex` (the 32-byte scalar). Throws if it is not a valid P-256 private key (the config
 * has already checked that).
 */
export async function oauthSigningKey(hex: string): Promise<JoseKey> {
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(Buffer.from(hex, 'hex'))
  const point = ecdh.getPublicKey() // uncompressed: 0x04 ‖ x ‖ y
  const x = point.subarray(1, 33).toString('base64url')
  const y = point.subarray(33, 65).toString('base64url')
  // RFC 7638 thumbprint: the required members in lexicographic order, no spaces.
  const kid = createHash('sha256').update(`{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`).digest('base64url')
  const d = Buffer.from(hex, 'hex').toString('base64url')
  return JoseKey.fromJWK({ kty: 'EC', crv: 'P-256', x, y, d, alg: 'ES256', kid }, kid)
}
