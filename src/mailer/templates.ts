// The mails that carry an email token: subject and plain-text body for each purpose. Short and plain on purpose:
// the code is the message, and text survives every mail client. The subjects are the reference PDS's
// (mailer/index.js); the wording is ours. ASCII only and lines of at most 72 characters, so that the body goes out
// as written (7bit), without quoted-printable soft breaks in the middle of a code.
import { EMAIL_TOKEN_LIFETIME_MS, type EmailTokenPurpose } from '../account/email-tokens.ts'

/** What goes into a mail: the code, and the account and server it is for. */
export type TokenMailParams = { token: string; handle: string; service: string }

export type MailContent = { subject: string; text: string }

const MINUTES = EMAIL_TOKEN_LIFETIME_MS / 60_000

const TEMPLATES: Record<EmailTokenPurpose, { subject: string; ask: (p: TokenMailParams) => string }> = {
  confirm_email: {
    subject: 'Email Confirmation',
    ask: (p) => `To confirm this email address for your account @${p.handle} on ${p.service}, enter this code in the app:`,
  },
  update_email: {
    subject: 'Email Update Requested',
    ask: (p) =>
      `Someone asked to change the email address of your account @${p.handle} on ${p.service}. ` +
      'To allow it, enter this code in the app along with the new address:',
  },
  reset_password: {
    subject: 'Password Reset Requested',
    ask: (p) =>
      `We received a request to reset the password of your account @${p.handle} on ${p.service}. ` +
      'To choose a new password, enter this code in the app:',
  },
  delete_account: {
    subject: 'Account Deletion Requested',
    ask: (p) =>
      `To permanently delete your account @${p.handle} on ${p.service}, with its posts and everything else it ` +
      'stores, enter this code in the app along with your password:',
  },
  plc_operation: {
    subject: 'PLC Update Operation Requested',
    ask: (p) =>
      `Someone asked ${p.service} to sign a change to the identity (DID document) of your account @${p.handle}: ` +
      'its keys, its handle or the server that hosts it, as when moving the account to another server. This is ' +
      'a very sensitive operation: go on only if you asked for it and know what it does. To allow it, enter ' +
      'this code in the app:',
  },
}

/** The mail for `purpose`. */
export function tokenMail(purpose: EmailTokenPurpose, params: TokenMailParams): MailContent {
  const t = TEMPLATES[purpose]
  const closing =
    `The code works once, for ${MINUTES} minutes. If you did not ask for it, ignore this mail: nothing changes ` +
    'without the code.'
  return { subject: t.subject, text: `${wrap(t.ask(params))}\n\n    ${params.token}\n\n${wrap(closing)}\n` }
}

/** Break a paragraph into lines of at most `width` characters at spaces (a longer word keeps its own line). */
export function wrap(paragraph: string, width = 72): string {
  const lines: string[] = []
  let line = ''
  for (const word of paragraph.split(/ +/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line ? `${line} ${word}` : word
    }
  }
  if (line) lines.push(line)
  return lines.join('\n')
}
