// Step 1: the account on the new PDS, under the same DID. The old PDS signs a service-auth token for the new one
// (aud = its service DID, lxm = createAccount, 60 s), which proves to the new PDS that the caller controls the DID;
// the new account starts deactivated. Never created twice: if signing in to the new PDS as the DID already works
// (an earlier run, even one that crashed before writing its state), that account is used.
import { ask, MigrateError } from './errors.ts'
import { trySignInNew, type Migration } from './context.ts'

const CREATE_ACCOUNT = 'com.atproto.server.createAccount'

/** Ensure the account exists on the new PDS and `m.new.agent` is signed in to it. */
export async function ensureAccount(m: Migration): Promise<{ created: boolean }> {
  if (await trySignInNew(m)) {
    m.out.ok(`account already on the new PDS (${m.new.agent.session?.handle ?? m.newHandle}): not created again`)
    return { created: false }
  }
  if (m.state.done('createAccount')) {
    // Created by an earlier run, which signed in with the password it was given then.
    throw new MigrateError(
      `an earlier run created the account on the new PDS, which now refuses to sign in to it: give the same --new-password as then`,
    )
  }
  if (m.new.inviteCodeRequired && !m.args.inviteCode) {
    throw new MigrateError(`the new PDS (${m.new.side.url}) requires an invite code: run again with --invite-code <code>`)
  }
  const exp = Math.floor(Date.now() / 1000) + 60
  const auth = await ask(m.old.side, `issue a service-auth token for the new PDS (${m.new.serviceDid})`, () =>
    m.old.agent.com.atproto.server.getServiceAuth({ aud: m.new.serviceDid, lxm: CREATE_ACCOUNT, exp }),
  )
  const domains = m.new.availableUserDomains.join(', ')
  const created = await ask(
    m.new.side,
    `create the account ${m.newHandle} for ${m.did}`,
    () =>
      m.new.agent.com.atproto.server.createAccount(
        { did: m.did, handle: m.newHandle, email: m.newEmail, password: m.newPassword, inviteCode: m.args.inviteCode },
        { headers: { authorization: `Bearer ${auth.data.token}` } },
      ),
    {
      InvalidHandle: `choose another with --new-handle (it offers handles ending in ${domains})`,
      HandleNotAvailable: `choose another with --new-handle (it offers handles ending in ${domains})`,
      UnsupportedDomain: `choose another with --new-handle (it offers handles ending in ${domains})`,
      InvalidInviteCode: 'pass a valid, unused --invite-code',
      InvalidEmail: 'pass another --new-email',
      '500': 'if an earlier run created this account there, run again with the same --new-password',
    },
  )
  if (created.data.did !== m.did) {
    throw new MigrateError(`the new PDS created ${created.data.did} instead of ${m.did}: it did not honour the DID; stop here`)
  }
  // Sign in the ordinary way (as goat does) rather than keep createAccount's tokens, which some PDSs scope down for
  // a deactivated account.
  if (!(await trySignInNew(m))) {
    throw new MigrateError(`the new PDS created the account but refuses to sign in to it with --new-password`)
  }
  m.out.ok(`account created on the new PDS as ${created.data.handle} (deactivated until the move is complete)`)
  return { created: true }
}
