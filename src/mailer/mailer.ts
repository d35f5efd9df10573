// Sends the mails that carry email tokens: through SMTP with nodemailer when PDS_EMAIL_SMTP_URL is set, otherwise
// into the server log at info, token included, so that a developer (or an operator without SMTP, passing codes on
// by hand) can still complete each flow. Like the reference PDS (mailer/index.js, context.js), a failed send is an
// error of the request that asked for it; what the caller does with it is the caller's business.
import type { EmailTokenPurpose } from '../account/email-tokens.ts'
import type { Config } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import { tokenMail, type MailContent, type TokenMailParams } from './templates.ts'

/** A mail with a code: for whom, to which address, for what. */
export type TokenMail = { purpose: EmailTokenPurpose; to: string; handle: string; token: string }

/** A composed mail: what it is for (logged), to whom, and its code if it carries one. */
type OutgoingMail = MailContent & { purpose: string; to: string; token?: string }

/** Where a composed mail goes: an SMTP server, or the log. `delivered`: whether an SMTP server took it. */
type Transport = ((mail: OutgoingMail) => Promise<void>) & { delivers: boolean }

// nodemailer's defaults wait up to 2 min for a connection and 10 min on a silent socket; a request waits on the send,
// so a dead mail server should fail it sooner. Options in the URL's query (?socketTimeout=…) still win.
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 }

export class Mailer {
  private readonly transport: Transport
  private readonly service: string

  private constructor(transport: Transport, service: string) {
    this.transport = transport
    this.service = service
  }

  /**
   * The mailer the configuration asks for. Says at startup where mail goes: SMTP (host and port, never the
   * credentials), or the log; without SMTP outside dev mode that is a warning, since users then cannot confirm
   * addresses, reset passwords, delete accounts or sign PLC operations (move away) on their own.
   */
  static create(cfg: Pick<Config, 'email' | 'devMode' | 'hostname'>, log: Logger): Mailer {
    if (!cfg.email) {
      const msg =
        'no SMTP server configured (PDS_EMAIL_SMTP_URL, PDS_EMAIL_FROM_ADDRESS): mails with email tokens are not ' +
        'sent; each token is written to this log at info instead'
      const cannot = 'confirm emails, reset passwords, delete accounts or move them to another server'
      if (cfg.devMode) log.info(msg)
      else log.warn(`${msg}. Users cannot ${cannot} unless you pass codes on`)
      return new Mailer(logTransport(log), cfg.hostname)
    }
    const { smtpUrl, fromAddress } = cfg.email
    const url = new URL(smtpUrl)
    log.info({ smtp: `${url.protocol}//${url.host}`, from: fromAddress }, 'mail goes through SMTP')
    return new Mailer(smtpTransport(smtpUrl, fromAddress), cfg.hostname)
  }

  /** Compose the mail for `mail.purpose` and send it. Rejects when the SMTP server could not take it. */
  async sendToken(mail: TokenMail): Promise<void> {
    const params: TokenMailParams = { token: mail.token, handle: mail.handle, service: this.service }
    await this.transport({ ...mail, ...tokenMail(mail.purpose, params) })
  }

  /**
   * A plain-text mail from the operator to an account's address (com.atproto.admin.sendEmail), sent as written.
   * Resolves true once an SMTP server took it, false when there is none (then its text goes to the log); rejects when
   * the SMTP server refused it.
   */
  async sendText(mail: { to: string; subject: string; text: string }): Promise<boolean> {
    await this.transport({ purpose: 'operator_message', ...mail })
    return this.transport.delivers
  }
}

function smtpTransport(smtpUrl: string, from: string): Transport {
  // smtp:// is plain SMTP that nodemailer upgrades with STARTTLS when the server offers it (a local relay without
  // TLS works as is); smtps:// is TLS from the first byte. No attachments or remote content: nothing to fetch.
  // nodemailer is loaded on the first mail, not at startup: one transporter (and its connection pool) from then on.
  let transporter: Promise<import('nodemailer').Transporter> | undefined
  const send = async ({ to, subject, text }: OutgoingMail) => {
    transporter ??= import('nodemailer').then(({ default: nodemailer }) =>
      nodemailer.createTransport({
        url: smtpUrl,
        ...SMTP_TIMEOUTS,
        disableFileAccess: true,
        disableUrlAccess: true,
      }),
    )
    await (await transporter).sendMail({ from, to, subject, text })
  }
  return Object.assign(send, { delivers: true })
}

function logTransport(log: Logger): Transport {
  const send = async ({ to, purpose, subject, token, text }: OutgoingMail) => {
    if (token) log.info({ mail: purpose, to, subject, token }, 'mail not sent (no SMTP server configured): its token is logged')
    else log.info({ mail: purpose, to, subject, text }, 'mail not sent (no SMTP server configured): its text is logged')
  }
  return Object.assign(send, { delivers: false })
}
