// What the doctor's checks report, shared by every check module, the runner (checks.ts) and the formatter.

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'

export type CheckResult = {
  /** Stable: public-url, dns, health, describe-server, oauth, firehose, accounts, account:<did>, federation, relay:<url> */
  id: string
  status: CheckStatus
  /** One plain sentence: what was found. */
  detail: string
  /** What to do about it (warn/fail). */
  fix?: string
  data?: unknown
}

export type DoctorReport = { ok: boolean; results: CheckResult[] }

/** The resolver calls the doctor makes; injectable so tests never leave the machine. */
export type DoctorIdentity = {
  didDoc(did: string, forceRefresh?: boolean): Promise<Record<string, unknown> | null>
  handle(handle: string): Promise<string | undefined>
}
