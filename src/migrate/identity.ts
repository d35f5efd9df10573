// Step 5: the identity. The new PDS recommends the DID document it needs (its rotation key, signing key, endpoint,
// the handle); the old PDS, which holds the current rotation key, signs a PLC operation for it once the user proves
// control of the account's email with the code it mails (requestPlcOperationSignature); the new PDS submits it to
// the PLC directory. Skipped when the new PDS already reports the DID document valid for it.
//
// The code: --plc-token if given; else it is requested and, on a terminal, asked for; in a script the command
// stops with exit code 3 after saying where the mail went, and is run again with --plc-token.
import { ask, EXIT, MigrateError } from './errors.ts'
import { accountStatus, type Migration } from './context.ts'

/** Moves the DID to the new PDS; `askCode` reads the emailed code from the user (absent: no terminal). */
export async function moveIdentity(m: Migration, askCode?: () => Promise<string>): Promise<'moved' | 'skipped'> {
  if ((await accountStatus(m.new)).validDid) {
    m.out.ok('DID document already points to the new PDS: no PLC operation needed')
    return 'skipped'
  }
  const token = m.args.plcToken || (await requestCode(m, askCode))

  const creds = await ask(m.new.side, 'recommend DID credentials (getRecommendedDidCredentials)', () =>
    m.new.agent.com.atproto.identity.getRecommendedDidCredentials(),
  )
  const signed = await ask(
    m.old.side,
    'sign the PLC operation (signPlcOperation)',
    () => m.old.agent.com.atproto.identity.signPlcOperation({ ...creds.data, token }),
    {
      InvalidToken: 'the code is wrong, or a newer request replaced it: use the latest email, or run again without --plc-token for a new one',
      ExpiredToken: 'the code expired: run again without --plc-token for a new one',
    },
  )
  await ask(m.new.side, 'submit the PLC operation (submitPlcOperation)', () =>
    m.new.agent.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation }),
  )
  const valid = (await accountStatus(m.new)).validDid
  if (!valid) {
    throw new MigrateError('the PLC operation was submitted but the new PDS does not yet see the DID document pointing to it; run again in a minute')
  }
  m.out.ok(`DID document now points to the new PDS (PLC operation signed by the old, submitted by the new)`)
  return 'moved'
}

async function requestCode(m: Migration, askCode?: () => Promise<string>): Promise<string> {
  await ask(m.old.side, 'email a confirmation code (requestPlcOperationSignature)', () =>
    m.old.agent.com.atproto.identity.requestPlcOperationSignature(),
  )
  const to = m.oldEmail ?? 'the email address of the account'
  m.state.state.plcTokenRequested = { at: new Date().toISOString(), to }
  m.state.save()
  m.out.wait(`the old PDS emailed a confirmation code to ${to} (a new request replaces an older code)`)
  const code = askCode ? await askCode() : ''
  if (!code) {
    throw new MigrateError('run the same command again with --plc-token <the code from that email>', EXIT.plcTokenNeeded)
  }
  return code
}
