// proxy-addr ships no types; this covers the two calls we make.
declare module 'proxy-addr' {
  import type { IncomingMessage } from 'node:http'

  type Trust = (addr: string, hop: number) => boolean

  function proxyaddr(req: IncomingMessage, trust: Trust): string
  namespace proxyaddr {
    function compile(val: string | readonly string[]): Trust
  }
  export = proxyaddr
}
