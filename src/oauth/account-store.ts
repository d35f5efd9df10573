// The provider's AccountStore over Aurora's account services, mapped as the reference PDS's OAuthStore maps it onto
// its AccountManager (account-manager/oauth-store.js): sign-in is createSession's password check (no app passwords,
// no taken-down accounts), sign-up is createAccount's code path (invite rules included), and the account pages'
// password reset, email, handle, deactivation and deletion flows are the XRPC methods' services. Our domain errors
// become the provider's OAuth errors here, so the pages show their messages.
import {
  HandleUnavailableError,
  InvalidCredentialsError,
  InvalidRequestError as OAuthInvalidRequestError,
} from '@atproto/oauth-provider/errors'
import type {
  Account,
  AccountStore,
  AuthenticateAccountData,
  AuthorizedClientData,
  AuthorizedClients,
  ClientId,
  CreateAccountData,
  DeactivateAccountData,
  DeleteAccountConfirmInput,
  DeleteAccountRequestInput,
  DeviceAccount,
  DeviceId,
  HandleUnavailableReason,
  ReactivateAccountData,
  ResetPasswordConfirmInput,
  ResetPasswordRequestInput,
  UpdateEmailConfirmInput,
  UpdateEmailRequestInput,
  UpdateEmailRequestOutput,
  UpdateHandleData,
  VerifyEmailConfirmInput,
  VerifyEmailRequestInput,
} from '@atproto/oauth-provider/store'
import type { AccountService } from '../account/account-service.ts'
import type { AccountStatusService } from '../account/account-status.ts'
import type { AppPasswordService } from '../account/app-passwords.ts'
import type { EmailTokenService } from '../account/email-tokens.ts'
import type { HandleService } from '../account/handle-service.ts'
import type { SelfService } from '../account/self-service.ts'
import { PdsError } from '../errors.ts'
import { normalizeServiceHandle } from '../identity/handles.ts'
import type { AccountDeviceRow, AccountDevices } from './account-devices.ts'
import type { AccountViews } from './account-view.ts'
import { toDeviceData } from './device-store.ts'
import type { SqliteTokenStore } from './token-store.ts'

export type AuroraAccountStoreDeps = {
  accounts: AccountService
  accountStatus: AccountStatusService
  appPasswords: AppPasswordService
  emailTokens: EmailTokenService
  selfService: SelfService
  handles: HandleService
  views: AccountViews
  devices: AccountDevices
  tokens: SqliteTokenStore
  serviceHandleDomains: readonly string[]
}

export class AuroraAccountStore implements AccountStore {
  private readonly deps: AuroraAccountStoreDeps

  constructor(deps: AuroraAccountStoreDeps) {
    this.deps = deps
  }

  /**
   * Sign-up: com.atproto.server.createAccount's service (handle rules, invite code, did:plc registration, first
   * commit). It also starts an XRPC session whose tokens nobody receives; it ends when its refresh token expires.
   */
  async createAccount(data: CreateAccountData): Promise<Account> {
    const { did } = await oauthErrors(() =>
      this.deps.accounts.createAccount({
        handle: data.handle,
        email: data.email,
        password: data.password,
        inviteCode: data.inviteCode,
      }),
    )
    return this.view(did)
  }

  /**
   * createSession's password check. App passwords are refused (an OAuth session is a full one), and so are
   * taken-down accounts. A wrong identifier or password is InvalidCredentialsError, with the DID when the identifier
   * names an account (for the provider's onSignInFailed hook).
   */
  async authenticateAccount(data: AuthenticateAccountData): Promise<Account> {
    if (data.emailOtp != null) throw new OAuthInvalidRequestError('Email OTP is not supported')
    let login
    try {
      login = await this.deps.accounts.checkLogin(data.username, data.password)
    } catch (err) {
      if (err instanceof PdsError && err.error === 'AccountTakedown') {
        throw new OAuthInvalidRequestError('Account was taken down', err)
      }
      if (err instanceof PdsError && err.kind === 'auth') {
        const did = this.deps.accounts.byLoginIdentifier(data.username)?.did as Account['did'] | undefined
        throw new InvalidCredentialsError(err.message, did, err)
      }
      throw err
    }
    if (login.appPassword) throw new OAuthInvalidRequestError('App passwords are not allowed')
    return this.deps.views.build(login.account)
  }

  setAuthorizedClient(did: string, clientId: ClientId, data: AuthorizedClientData): void {
    this.deps.devices.setAuthorizedClient(did, clientId, data)
  }

  getAccount(did: string): { account: Account; authorizedClients: AuthorizedClients } {
    return { account: this.view(did), authorizedClients: this.deps.devices.authorizedClients(did) }
  }

  upsertDeviceAccount(deviceId: DeviceId, did: string): void {
    this.deps.devices.upsert(deviceId, did)
  }

  getDeviceAccount(deviceId: DeviceId, did: string): DeviceAccount | null {
    const row = this.deps.devices.get(deviceId, did)
    return row ? this.deviceAccount(row) : null
  }

  removeDeviceAccount(deviceId: DeviceId, did: string): void {
    this.deps.devices.remove(deviceId, did)
  }

  listDeviceAccounts(filter: { did: string } | { deviceId: DeviceId }): DeviceAccount[] {
    return this.deps.devices
      .list(filter)
      .map((row) => this.deviceAccount(row))
      .filter((a) => a !== null)
  }

  /**
   * requestPasswordReset's service: the code is mailed after the answer, whether or not the address has an account
   * (src/account/self-service.ts). The account (null when none, or taken down) is for the provider's hooks only.
   */
  resetPasswordRequest(data: ResetPasswordRequestInput): Account | null {
    const row = this.deps.accounts.store.byEmail(data.email)
    this.deps.selfService.requestPasswordReset(data.email)
    return row && !row.takedown_ref ? this.deps.views.build(row) : null
  }

  /** resetPassword's service, which also ends every session, OAuth ones included. Null for a bad or expired code. */
  async resetPasswordConfirm(data: ResetPasswordConfirmInput): Promise<Account | null> {
    try {
      const did = this.deps.emailTokens.accountFor('reset_password', data.token)
      await this.deps.selfService.resetPassword(data.token, data.password)
      return this.deps.views.byDid(did)
    } catch (err) {
      if (err instanceof PdsError && err.kind === 'invalid') return null
      throw err
    }
  }

  updateEmailRequest(data: UpdateEmailRequestInput): Promise<UpdateEmailRequestOutput> {
    return oauthErrors(() => this.deps.selfService.requestEmailUpdate(data.did))
  }

  /** updateEmail's service, then a confirmation code to the new address, as the reference. */
  async updateEmailConfirm(data: UpdateEmailConfirmInput): Promise<Account | null> {
    await oauthErrors(async () => {
      this.deps.selfService.updateEmail(data.did, data.email, data.token)
      await this.deps.selfService.requestEmailConfirmation(data.did)
    })
    return this.view(data.did)
  }

  verifyEmailRequest(data: VerifyEmailRequestInput): Promise<void> {
    return oauthErrors(() => this.deps.selfService.requestEmailConfirmation(data.did))
  }

  /** confirmEmail's service; null for a wrong address or code. */
  verifyEmailConfirm(data: VerifyEmailConfirmInput): Account | null {
    try {
      this.deps.selfService.confirmEmail(data.did, data.email, data.token)
    } catch (err) {
      if (err instanceof PdsError && err.kind === 'invalid') return null
      throw err
    }
    return this.view(data.did)
  }

  /** The sign-up page's check: the service-domain rules, then whether any account (in any state) holds it. */
  verifyHandleAvailability(handle: string): void {
    let normalized: string
    try {
      normalized = normalizeServiceHandle(handle, this.deps.serviceHandleDomains)
    } catch (err) {
      throw toOAuthError(err)
    }
    if (normalized !== handle) throw new HandleUnavailableError('syntax', 'Invalid handle')
    if (this.deps.accounts.store.byHandle(normalized)) throw new HandleUnavailableError('taken')
  }

  async updateHandle(data: UpdateHandleData): Promise<Account> {
    await oauthErrors(() => this.deps.handles.updateHandle(data.did, data.handle))
    return this.view(data.did)
  }

  /**
   * Deactivation from the account page, as the reference's (deleteCredentials): the account's OAuth sessions,
   * consents and app passwords go too.
   */
  async deactivateAccount(data: DeactivateAccountData): Promise<Account> {
    await oauthErrors(() => this.deps.accountStatus.deactivate(data.did, data.deleteAfter))
    this.deps.tokens.deleteAllFor(data.did)
    this.deps.devices.deleteAuthorizedClients(data.did)
    this.deps.appPasswords.deleteAllFor(data.did)
    return this.view(data.did)
  }

  async reactivateAccount(data: ReactivateAccountData): Promise<Account> {
    await oauthErrors(() => this.deps.accountStatus.activate(data.did))
    return this.view(data.did)
  }

  deleteAccountRequest(data: DeleteAccountRequestInput): Promise<void> {
    return oauthErrors(() => this.deps.selfService.requestAccountDelete(data.did))
  }

  /** deleteAccount's service: the account password, then the mailed code; a wrong password is InvalidCredentials. */
  async deleteAccountConfirm(data: DeleteAccountConfirmInput): Promise<void> {
    try {
      await this.deps.selfService.deleteAccount(data.did, data.password, data.token)
    } catch (err) {
      if (err instanceof PdsError && err.kind === 'auth') {
        throw new InvalidCredentialsError('Invalid did or password', data.did as Account['did'], err)
      }
      throw toOAuthError(err)
    }
  }

  /** The account, deactivated ones included; InvalidRequest when it is gone or taken down. */
  private view(did: string): Account {
    const account = this.deps.views.byDid(did)
    if (!account) throw new OAuthInvalidRequestError('Account not found')
    return account
  }

  private deviceAccount(row: AccountDeviceRow): DeviceAccount | null {
    const account = this.deps.views.byDid(row.did)
    if (!account) return null
    return {
      deviceId: row.device_id as DeviceId,
      deviceData: toDeviceData(row),
      account,
      authorizedClients: this.deps.devices.authorizedClients(row.did),
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
    }
  }
}

/** Run `fn`, turning our domain errors into the provider's (see toOAuthError). */
async function oauthErrors<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw toOAuthError(err)
  }
}

/**
 * A refused request (400) becomes the provider's InvalidRequestError with our message, or HandleUnavailableError with
 * its reason when it is about a handle, as the reference's toHandleUnavailableError; anything else is left as is.
 */
export function toOAuthError(err: unknown): unknown {
  if (!(err instanceof PdsError) || err.kind !== 'invalid') return err
  const reason = handleUnavailableReason(err)
  return reason ? new HandleUnavailableError(reason, err.message, err) : new OAuthInvalidRequestError(err.message, err)
}

function handleUnavailableReason(err: PdsError): HandleUnavailableReason | undefined {
  switch (err.error) {
    case 'HandleNotAvailable':
      return err.message === 'Reserved handle' ? 'reserved' : 'taken'
    case 'UnsupportedDomain':
      return 'unsupported'
    case 'InvalidHandle':
      return /TLD/.test(err.message) ? 'domain' : 'syntax'
    case 'InvalidRequest':
      return err.message === 'External handle did not resolve to DID' ? 'resolution' : undefined
  }
  return undefined
}
