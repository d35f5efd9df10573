// The route table (src/api/routes.ts): every handler's module is imported by its method's first call, not at startup,
// so a module that fails to load would only show then; here each one loads and is a method of the right shape.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { routes } from '../src/api/routes.ts'

describe('route table', () => {
  it('has one line per method', () => {
    assert.equal(new Set(routes.map((r) => r.nsid)).size, routes.length)
  })

  it("loads every handler's module, once, as a method with a handler", async () => {
    for (const r of routes) {
      const def = await r.method()
      assert.equal(typeof def.handler, 'function', r.nsid)
      // Only procedures take a body.
      if (r.type === 'query') assert.ok(!def.input && !def.rawInput, `${r.nsid} is a query with an input`)
      assert.equal(await r.method(), def, `${r.nsid}: the same method on the next call`)
    }
  })
})
