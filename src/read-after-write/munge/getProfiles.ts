// app.bsky.actor.getProfiles: the caller's profile among them from their newer profile record (the reference's
// getProfiles.js).
import type { AppBskyActorGetProfiles } from '@atproto/api'
import type { Munge } from '../types.ts'

export const getProfilesMunge: Munge<AppBskyActorGetProfiles.OutputSchema> = async (viewer, original, local, requester) => {
  const { profile } = local
  if (!profile) return original
  const profiles = original.profiles.map((p) => (p.did === requester ? viewer.updateProfileDetailed(p, profile.record) : p))
  return { ...original, profiles }
}
