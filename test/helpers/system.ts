// Tests that need a program from the system (Debian's nginx, Chromium, openssl, script). Outside CI a missing program skips
// the suite with one line saying what to install; under CI=true (.ci/run installs them) nothing skips, and the
// suite's own check fails instead, so a broken install can never pass as a skip.
import { existsSync } from 'node:fs'
import path from 'node:path'

export type SystemProgram = { name: string; debianPackage: string }

export const NGINX: SystemProgram = { name: 'nginx', debianPackage: 'nginx-light' }
export const CHROMIUM: SystemProgram = { name: 'chromium', debianPackage: 'chromium' }
export const OPENSSL: SystemProgram = { name: 'openssl', debianPackage: 'openssl' }
export const CADDY: SystemProgram = { name: 'caddy', debianPackage: 'caddy' }
/** npm itself, for the production tree test (npm ci). */
export const NPM: SystemProgram = { name: 'npm', debianPackage: 'npm' }
/** util-linux `script`, a pseudo-terminal for tests of prompts (Debian ships it in bsdutils, an essential package). */
export const SCRIPT: SystemProgram = { name: 'script', debianPackage: 'bsdutils' }

/** The program's path: PATH first, then the sbin folders a non-root PATH leaves out. Undefined when absent. */
export function findProgram(program: SystemProgram): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin']
  return dirs.map((d) => path.join(d, program.name)).find((p) => existsSync(p))
}

/**
 * The `skip` option for a suite that needs these programs: false when all are there or under CI=true, else
 * "install X to run this (apt-get install …)".
 */
export function skipWithout(...programs: SystemProgram[]): string | false {
  const missing = programs.filter((p) => !findProgram(p))
  if (missing.length === 0 || process.env.CI === 'true') return false
  const names = missing.map((p) => p.name).join(' and ')
  return `install ${names} to run this (apt-get install ${missing.map((p) => p.debianPackage).join(' ')})`
}

/** The program's path, or a failed assertion naming what to install (for the suite's before()). */
export function requireProgram(program: SystemProgram): string {
  const found = findProgram(program)
  if (!found) throw new Error(`${program.name} is not installed: apt-get install ${program.debianPackage} (.ci/run does)`)
  return found
}
