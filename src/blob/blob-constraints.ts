// What a record's lexicon allows in each of its blob fields: `accept` (MIME types, `type/*` globs, or any type) and
// `maxSize` (bytes), from the lexicon spec's blob type. @atproto/lexicon's record validation only checks that a blob
// field holds a blob ref; these limits are checked against the stored blob when the record is written
// (check-blob-refs.ts), as the reference PDS does.
import { BlobRef, type Lexicons } from '@atproto/lexicon'

export type BlobConstraints = { accept?: string[]; maxSize?: number }

// The parts of a lexicon schema node the walk reads. Refs are absolute `lex:` URIs: Lexicons.add resolves them.
type SchemaNode = {
  type: string
  record?: SchemaNode
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  ref?: string
  refs?: string[]
  accept?: string[]
  maxSize?: number
}

/**
 * The constraints of each blob ref in `record` that sits in a blob field of `collection`'s lexicon, keyed by the
 * BlobRef object of the lex value (as @atproto/lexicon's jsonToLex made it). Walks the schema along the value: object
 * properties, array items, refs, and union members chosen by the value's `$type` (a type an open union does not list
 * is not checked against any schema, so neither is it here). Blob refs in `unknown` fields are not in the map.
 * Call only for a record that validated against `collection`'s lexicon; collections whose schema can hold no blob
 * cost one cached lookup.
 */
export function findBlobConstraints(lexicons: Lexicons, collection: string, record: unknown): Map<BlobRef, BlobConstraints> {
  const found = new Map<BlobRef, BlobConstraints>()
  const graph = graphOf(lexicons)
  const root = canonical(collection)
  if (graph.reachesBlob(root)) walk(graph, graph.def(root), record, found)
  return found
}

function walk(graph: SchemaGraph, node: SchemaNode | undefined, value: unknown, found: Map<BlobRef, BlobConstraints>): void {
  if (!node || value === null || value === undefined) return
  switch (node.type) {
    case 'record':
      return walk(graph, node.record, value, found)
    case 'object':
      if (typeof value !== 'object') return
      for (const [key, prop] of Object.entries(node.properties ?? {})) {
        walk(graph, prop, (value as Record<string, unknown>)[key], found)
      }
      return
    case 'array':
      if (Array.isArray(value)) for (const item of value) walk(graph, node.items, item, found)
      return
    case 'ref': {
      const uri = canonical(node.ref!)
      if (graph.reachesBlob(uri)) walk(graph, graph.def(uri), value, found)
      return
    }
    case 'union': {
      const $type = (value as { $type?: unknown }).$type
      if (typeof $type !== 'string') return
      const uri = canonical($type)
      if (node.refs?.some((r) => canonical(r) === uri) && graph.reachesBlob(uri)) walk(graph, graph.def(uri), value, found)
      return
    }
    case 'blob':
      if (value instanceof BlobRef) found.set(value, { accept: node.accept, maxSize: node.maxSize })
      return
  }
}

/** `lex:nsid` or `lex:nsid#name`, with `#main` dropped, so a `$type` and a ref to the same def compare equal. */
function canonical(ref: string): string {
  const uri = ref.startsWith('lex:') ? ref : `lex:${ref}`
  return uri.endsWith('#main') ? uri.slice(0, -'#main'.length) : uri
}

/** Lexicon defs as a graph of refs, with "can this def hold a blob anywhere below it" worked out once per def. */
class SchemaGraph {
  private readonly lexicons: Lexicons
  private readonly edges = new Map<string, { blob: boolean; refs: string[] }>()
  private readonly reaches = new Map<string, boolean>()

  constructor(lexicons: Lexicons) {
    this.lexicons = lexicons
  }

  def(uri: string): SchemaNode | undefined {
    return this.lexicons.getDef(uri) as SchemaNode | undefined
  }

  /** Whether a blob field is reachable from def `uri` (refs and unions followed; cycles are fine). */
  reachesBlob(uri: string): boolean {
    let result = this.reaches.get(uri)
    if (result !== undefined) return result
    result = false
    const seen = new Set([uri])
    const stack = [uri]
    while (stack.length && !result) {
      const links = this.linksOf(stack.pop()!)
      if (links.blob) result = true
      for (const ref of links.refs) {
        if (!seen.has(ref)) {
          seen.add(ref)
          stack.push(ref)
        }
      }
    }
    this.reaches.set(uri, result)
    return result
  }

  /** A def's own blob fields and the defs it refers to, without following those refs. */
  private linksOf(uri: string): { blob: boolean; refs: string[] } {
    let links = this.edges.get(uri)
    if (!links) {
      links = { blob: false, refs: [] }
      collectLinks(this.def(uri), links)
      this.edges.set(uri, links)
    }
    return links
  }
}

function collectLinks(node: SchemaNode | undefined, links: { blob: boolean; refs: string[] }): void {
  if (!node) return
  switch (node.type) {
    case 'record':
      return collectLinks(node.record, links)
    case 'object':
      for (const prop of Object.values(node.properties ?? {})) collectLinks(prop, links)
      return
    case 'array':
      return collectLinks(node.items, links)
    case 'ref':
      links.refs.push(canonical(node.ref!))
      return
    case 'union':
      for (const ref of node.refs ?? []) links.refs.push(canonical(ref))
      return
    case 'blob':
      links.blob = true
      return
  }
}

// One graph per Lexicons instance (in practice, the one set of published lexicons), kept for the process's life.
const graphs = new WeakMap<Lexicons, SchemaGraph>()
function graphOf(lexicons: Lexicons): SchemaGraph {
  let graph = graphs.get(lexicons)
  if (!graph) {
    graph = new SchemaGraph(lexicons)
    graphs.set(lexicons, graph)
  }
  return graph
}
