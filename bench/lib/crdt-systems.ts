/**
 * The systems the CRDT benchmark compares, each behind the same two small adapters (an LWW map and an
 * OR-set), so that every system runs the identical sequence of operations.
 *
 * Every adapter method holds its own loop: a shared loop calling through the adapter would make one call
 * site see five receiver shapes (megamorphic), taxing the fastest systems most. Inputs (key and id strings)
 * are built once, outside the timed region, and shared by all systems.
 *
 * One operation is one transaction everywhere: Yjs `ymap.set` (a transaction of its own), Loro `set` then
 * `commit()`, Automerge one `A.change` per op, Grapevine one stamp per op. "Delta per op" means each system's
 * own way of getting the op out to peers: Yjs's `update` event, Loro's update export since the version
 * before the op (see loroCommit), Automerge's `getLastLocalChange`, Grapevine's delta state (a fresh
 * `empty()` passed to each op).
 *
 * Per op, with the same inputs (the key or id string from one prebuilt array, the value `valueOffset + i`,
 * a small integer), the loops differ only in the call they make:
 *   map        LWW: `m.set(key, value)`; OR-set: `s.add(id)` / `s.delete(id)` on a Set. One hash-table
 *              write, no allocation (the table grows as keys are added), no metadata.
 *   grapevine  `replica.next(r)`: reads the wall clock (`Date.now()`, the daemon's clock), ticks the HLC,
 *              allocates the stamp {node, seq, wallMs, logical}; then LWW `lwwMap.set`: checks the stamp,
 *              one Map lookup, and either overwrites the key's entry in place (no allocation) or, for a key
 *              new to the map, allocates the entry and writes the Map; OR-set `orSet.add`: checks the dot,
 *              one lookup in the causal context, one Map lookup and one write, allocates the element's dot,
 *              appends it to the dot index; `orSet.remove`: one lookup, one delete, clears the index slot.
 * The fixed-clock variants (info only, not a target) are Grapevine with a clock that never moves, so the
 * HLC only counts: the same work without the wall-clock read, to show how much of the time that read is.
 */
import * as A from '@automerge/automerge'
import { LoroDoc } from 'loro-crdt'
import type { LoroMap, VersionVector } from 'loro-crdt'
import * as Y from 'yjs'
import * as core from '../../src/core/index.ts'

export const systems = ['grapevine', 'yjs', 'loro', 'automerge', 'map'] as const
export type System = (typeof systems)[number]
export const peers = ['yjs', 'loro', 'automerge'] as const satisfies readonly System[]
export type Peer = (typeof peers)[number]

/**
 * none: no delta. state: a delta per op (Grapevine: a delta state; peers: their encoded update).
 * bytes: like state, and Grapevine also encodes each delta to bytes (peers already emit bytes).
 */
export type DeltaMode = 'none' | 'state' | 'bytes'

/** Op i sets keys[keyOffset + i % keyCount] to valueOffset + i. */
export type LwwWork = {
  readonly keys: readonly string[]
  readonly keyCount: number
  readonly keyOffset: number
  readonly valueOffset: number
}

export function lwwKey(w: LwwWork, i: number): string {
  return w.keys[w.keyOffset + (i % w.keyCount)] as string
}

/** Adds ids[0 .. adds), then removes every other one: ids[0], ids[2], ... (removes of them). */
export type SetWork = { readonly ids: readonly string[]; readonly adds: number; readonly removes: number }

/** What a run emitted: the number of deltas and their total encoded size (0 bytes for delta states). */
export type Emitted = { deltas: number; bytes: number }

export type LwwAdapter<S, X> = {
  readonly system: System
  readonly supportsDelta: boolean
  /** A fresh, empty replica; `node` (1, 2 or 3) makes replica ids differ and runs deterministic. */
  create(node: number): S
  /** Applies ops [from, to) one transaction each, the way an application would (timed). */
  sets(s: S, w: LwwWork, from: number, to: number, mode: DeltaMode): Emitted
  /**
   * Applies ops [from, to) producing the same history as `sets(..., 'none')`, possibly by a faster route
   * (only Automerge has one): for building large replicas outside the timed region.
   */
  build(s: S, w: LwwWork, from: number, to: number): void
  get(s: S, key: string): unknown
  encodeFull(s: S): Uint8Array
  /** A replica loaded from encodeFull's bytes (the full-state path a new peer would take). */
  loadFull(bytes: Uint8Array, node: number): S
  /** Applies ops [from, to) (like build) and returns the encoded delta covering exactly those ops. */
  deltaOf(s: S, w: LwwWork, from: number, to: number): Uint8Array
  /** Applies an encoded delta from deltaOf to another replica. */
  applyDelta(s: S, delta: Uint8Array): void
  /** What a merge consumes from the remote replica, prepared outside the timed region. */
  mergeSource(s: S): X
  /** An independent copy of a replica (outside the timed region), for merging into. */
  copy(s: S, node: number): S
  /** Merges the remote into the local replica (timed). */
  merge(local: S, remote: X): S
  /**
   * Releases a replica. The wasm peers share one linear memory per module: a document that is not freed
   * (a Loro doc held by its update subscription never is) slows every later run of the same system.
   */
  dispose(s: S): void
}

export type SetAdapter<S> = {
  readonly system: System
  readonly supportsDelta: boolean
  create(node: number): S
  /** Adds then removes, one transaction per op (timed). */
  run(s: S, w: SetWork, mode: DeltaMode): Emitted
  has(s: S, id: string): boolean
  size(s: S): number
  dispose(s: S): void
}

const utf8 = new TextEncoder()

// ---------------------------------------------------------------------------------------------- Grapevine

/**
 * Both clocks come from one function literal, so the HLC's call to `nowMs` keeps one call target whichever
 * clock a replica has (V8 shares call feedback between closures of one literal): running the fixed-clock
 * variants does not make the wall-clock runs polymorphic. The cost is one comparison per read.
 */
function benchClock(fixedMs: number | undefined): core.Clock {
  return { nowMs: () => fixedMs ?? Date.now() }
}

/** The real wall clock, as the daemon passes it (Date.now); the benchmark measures the stamp cost too. */
const wallClock = benchClock(undefined)

/** A clock that never moves (the HLC then advances its logical counter): for the fixed-clock variants. */
const fixedClock = benchClock(1_700_000_000_000)

type GvMap = ReturnType<typeof core.lwwMap.empty>
export type GvLww = { m: GvMap; r: core.Replica }
export type GvSet = { s: core.orSet.OrSet; r: core.Replica }

function gvReplica(node: number, clock: core.Clock = wallClock): core.Replica {
  return core.replica.create(core.ids.asNodeId(`node-${node}`), clock)
}

function gvDecodeLww(bytes: Uint8Array): GvMap {
  const d = core.lwwMap.decode(bytes)
  if (!d.ok) throw new Error(`grapevine: lwwMap.decode failed: ${d.reason}: ${d.detail}`)
  return d.value
}

export const grapevineLww: LwwAdapter<GvLww, GvLww> = {
  system: 'grapevine',
  supportsDelta: true,
  create: (node) => ({ m: core.lwwMap.empty(), r: gvReplica(node) }),
  sets(s, w, from, to, mode) {
    const { m, r } = s
    if (mode === 'none') {
      for (let i = from; i < to; i++)
        core.lwwMap.set(m, lwwKey(w, i), w.valueOffset + i, core.replica.next(r))
      return { deltas: 0, bytes: 0 }
    }
    let bytes = 0
    let last: GvMap | undefined
    for (let i = from; i < to; i++) {
      const d = core.lwwMap.empty()
      core.lwwMap.set(m, lwwKey(w, i), w.valueOffset + i, core.replica.next(r), d)
      if (mode === 'bytes') bytes += core.lwwMap.encode(d).length
      last = d
    }
    // The last delta must carry the last op: a cheap guard against measuring a no-op.
    if (to > from && core.lwwMap.get(last as GvMap, lwwKey(w, to - 1)) !== w.valueOffset + to - 1) {
      throw new Error('grapevine: the delta of a set does not hold the value it set')
    }
    return { deltas: to - from, bytes }
  },
  build(s, w, from, to) {
    grapevineLww.sets(s, w, from, to, 'none')
  },
  get: (s, key) => core.lwwMap.get(s.m, key),
  encodeFull: (s) => core.lwwMap.encode(s.m),
  loadFull: (bytes, node) => ({ m: gvDecodeLww(bytes), r: gvReplica(node) }),
  deltaOf(s, w, from, to) {
    const d = core.lwwMap.empty()
    for (let i = from; i < to; i++)
      core.lwwMap.set(s.m, lwwKey(w, i), w.valueOffset + i, core.replica.next(s.r), d)
    return core.lwwMap.encode(d)
  },
  applyDelta(s, delta) {
    core.lwwMap.mergeInto(s.m, gvDecodeLww(delta))
  },
  mergeSource: (s) => s,
  copy: (s, node) => ({ m: gvDecodeLww(core.lwwMap.encode(s.m)), r: gvReplica(node) }),
  merge(local, remote) {
    core.lwwMap.mergeInto(local.m, remote.m)
    return local
  },
  dispose: () => {},
}

/** Grapevine's merge from bytes: decoding the remote's encoded state is part of the timed merge. */
export const grapevineLwwFromBytes: LwwAdapter<GvLww, Uint8Array> = {
  ...grapevineLww,
  mergeSource: (s) => core.lwwMap.encode(s.m),
  merge(local, remote) {
    core.lwwMap.mergeInto(local.m, gvDecodeLww(remote))
    return local
  },
}

export const grapevineSet: SetAdapter<GvSet> = {
  system: 'grapevine',
  supportsDelta: true,
  create: (node) => ({ s: core.orSet.empty(), r: gvReplica(node) }),
  run({ s, r }, w, mode) {
    const { ids } = w
    if (mode === 'none') {
      for (let i = 0; i < w.adds; i++) core.orSet.add(s, ids[i] as string, core.replica.next(r))
      for (let j = 0; j < w.removes; j++) core.orSet.remove(s, ids[2 * j] as string, core.replica.next(r))
      return { deltas: 0, bytes: 0 }
    }
    let bytes = 0
    let lastAdd: core.orSet.OrSet | undefined
    for (let i = 0; i < w.adds; i++) {
      const d = core.orSet.empty()
      core.orSet.add(s, ids[i] as string, core.replica.next(r), d)
      if (mode === 'bytes') bytes += core.orSet.encode(d).length
      lastAdd = d
    }
    if (w.adds > 0 && !core.orSet.has(lastAdd as core.orSet.OrSet, ids[w.adds - 1] as string)) {
      throw new Error('grapevine: the delta of an add does not hold the element')
    }
    for (let j = 0; j < w.removes; j++) {
      const d = core.orSet.empty()
      core.orSet.remove(s, ids[2 * j] as string, core.replica.next(r), d)
      if (mode === 'bytes') bytes += core.orSet.encode(d).length
    }
    return { deltas: w.adds + w.removes, bytes }
  },
  has: ({ s }, id) => core.orSet.has(s, id),
  size: ({ s }) => core.orSet.size(s),
  dispose: () => {},
}

/** Grapevine's LWW map with a clock that never moves: no wall-clock read per op (info only). */
export const grapevineLwwFixedClock: LwwAdapter<GvLww, GvLww> = {
  ...grapevineLww,
  create: (node) => ({ m: core.lwwMap.empty(), r: gvReplica(node, fixedClock) }),
}

/** Grapevine's OR-set with a clock that never moves: no wall-clock read per op (info only). */
export const grapevineSetFixedClock: SetAdapter<GvSet> = {
  ...grapevineSet,
  create: (node) => ({ s: core.orSet.empty(), r: gvReplica(node, fixedClock) }),
}

// ---------------------------------------------------------------------------------------------------- Yjs

export type YLww = { doc: Y.Doc; m: Y.Map<number> }
export type YSet = { doc: Y.Doc; m: Y.Map<boolean> }

function yDoc(node: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = node // fixed, so that runs are repeatable (Yjs picks a random one by default)
  return doc
}

/** Counts Yjs's per-transaction updates: attaching the listener is what makes Yjs encode them. */
function yOnUpdate(doc: Y.Doc, out: Emitted): void {
  doc.on('update', (update: Uint8Array) => {
    out.deltas++
    out.bytes += update.length
  })
}

export const yjsLww: LwwAdapter<YLww, Uint8Array> = {
  system: 'yjs',
  supportsDelta: true,
  create(node) {
    const doc = yDoc(node)
    return { doc, m: doc.getMap<number>('m') }
  },
  sets(s, w, from, to, mode) {
    const out: Emitted = { deltas: 0, bytes: 0 }
    if (mode !== 'none') yOnUpdate(s.doc, out)
    const { m } = s
    for (let i = from; i < to; i++) m.set(lwwKey(w, i), w.valueOffset + i)
    return out
  },
  build(s, w, from, to) {
    const { m } = s
    for (let i = from; i < to; i++) m.set(lwwKey(w, i), w.valueOffset + i)
  },
  get: (s, key) => s.m.get(key),
  encodeFull: (s) => Y.encodeStateAsUpdate(s.doc),
  loadFull(bytes, node) {
    const s = yjsLww.create(node)
    Y.applyUpdate(s.doc, bytes)
    return s
  },
  deltaOf(s, w, from, to) {
    const before = Y.encodeStateVector(s.doc)
    yjsLww.build(s, w, from, to)
    return Y.encodeStateAsUpdate(s.doc, before)
  },
  applyDelta(s, delta) {
    Y.applyUpdate(s.doc, delta)
  },
  mergeSource: (s) => Y.encodeStateAsUpdate(s.doc),
  copy: (s, node) => yjsLww.loadFull(Y.encodeStateAsUpdate(s.doc), node),
  merge(local, remote) {
    Y.applyUpdate(local.doc, remote)
    return local
  },
  dispose: (s) => s.doc.destroy(),
}

export const yjsSet: SetAdapter<YSet> = {
  system: 'yjs',
  supportsDelta: true,
  create(node) {
    const doc = yDoc(node)
    return { doc, m: doc.getMap<boolean>('s') }
  },
  run(s, w, mode) {
    const out: Emitted = { deltas: 0, bytes: 0 }
    if (mode !== 'none') yOnUpdate(s.doc, out)
    const { m } = s
    const { ids } = w
    for (let i = 0; i < w.adds; i++) m.set(ids[i] as string, true)
    for (let j = 0; j < w.removes; j++) m.delete(ids[2 * j] as string)
    return out
  },
  has: (s, id) => s.m.has(id),
  size: (s) => s.m.size,
  dispose: (s) => s.doc.destroy(),
}

// --------------------------------------------------------------------------------------------------- Loro

export type LoroLww = { doc: LoroDoc; m: LoroMap }

function loroDoc(node: number): LoroDoc {
  const doc = new LoroDoc()
  doc.setPeerId(node)
  return doc
}

/**
 * Commits one op and, with a delta, exports the update since `before` (the version before the op). Not
 * `subscribeLocalUpdates`: in loro-crdt 1.17.1 it leaks about 0.5 KB of wasm memory per update even after
 * unsubscribe and free (measured: +70 MB per 150k updates), which slowed every later Loro run of the
 * benchmark by up to 50x. The export is as fast (1.5 s per 150k ops either way) and yields the same update.
 */
function loroCommit(doc: LoroDoc, before: VersionVector | undefined, out: Emitted): void {
  doc.commit()
  if (before === undefined) return
  out.deltas++
  out.bytes += doc.export({ mode: 'update', from: before }).length
  before.free()
}

function loroDispose(s: LoroLww): void {
  s.m.free()
  s.doc.free()
}

export const loroLww: LwwAdapter<LoroLww, Uint8Array> = {
  system: 'loro',
  supportsDelta: true,
  create(node) {
    const doc = loroDoc(node)
    return { doc, m: doc.getMap('m') }
  },
  sets(s, w, from, to, mode) {
    const out: Emitted = { deltas: 0, bytes: 0 }
    const { doc, m } = s
    if (mode === 'none') {
      for (let i = from; i < to; i++) {
        m.set(lwwKey(w, i), w.valueOffset + i)
        doc.commit()
      }
      return out
    }
    for (let i = from; i < to; i++) {
      const before = doc.oplogVersion()
      m.set(lwwKey(w, i), w.valueOffset + i)
      loroCommit(doc, before, out)
    }
    return out
  },
  build(s, w, from, to) {
    loroLww.sets(s, w, from, to, 'none')
  },
  get: (s, key) => s.m.get(key),
  encodeFull: (s) => s.doc.export({ mode: 'snapshot' }),
  loadFull(bytes, node) {
    const s = loroLww.create(node)
    s.doc.import(bytes)
    // Loro decodes a snapshot's state lazily; touch it here so that the cost is not charged to what follows.
    void s.m.size
    return s
  },
  deltaOf(s, w, from, to) {
    const before = s.doc.oplogVersion()
    loroLww.build(s, w, from, to)
    const delta = s.doc.export({ mode: 'update', from: before })
    before.free()
    return delta
  },
  applyDelta(s, delta) {
    s.doc.import(delta)
  },
  mergeSource: (s) => s.doc.export({ mode: 'update' }),
  copy: (s, node) => loroLww.loadFull(s.doc.export({ mode: 'snapshot' }), node),
  merge(local, remote) {
    local.doc.import(remote)
    return local
  },
  dispose: loroDispose,
}

export const loroSet: SetAdapter<LoroLww> = {
  system: 'loro',
  supportsDelta: true,
  create(node) {
    const doc = loroDoc(node)
    return { doc, m: doc.getMap('s') }
  },
  run(s, w, mode) {
    const out: Emitted = { deltas: 0, bytes: 0 }
    const { doc, m } = s
    const { ids } = w
    const delta = mode !== 'none'
    for (let i = 0; i < w.adds; i++) {
      const before = delta ? doc.oplogVersion() : undefined
      m.set(ids[i] as string, true)
      loroCommit(doc, before, out)
    }
    for (let j = 0; j < w.removes; j++) {
      const before = delta ? doc.oplogVersion() : undefined
      m.delete(ids[2 * j] as string)
      loroCommit(doc, before, out)
    }
    return out
  },
  has: (s, id) => s.m.get(id) !== undefined,
  size: (s) => s.m.size,
  dispose: loroDispose,
}

// ---------------------------------------------------------------------------------------------- Automerge

type AmRecord = Record<string, number | boolean>
export type AmDoc = { doc: A.Doc<AmRecord> }

/** Actor ids are hex; pad the node number so that each replica has a distinct, fixed one. */
function amActor(node: number): string {
  return node.toString(16).padStart(32, '0')
}

function amLastChangeBytes(doc: A.Doc<AmRecord>): number {
  const c = A.getLastLocalChange(doc)
  if (c === undefined) throw new Error('automerge: a change produced no change bytes')
  return c.length
}

/**
 * Writes ops through Automerge's low-level document (put + commit per op, with the timestamp A.change
 * would record): the same history as one A.change per op, without rebuilding the immutable JS view after
 * every op, which costs O(keys) per change (about 1.4 ms per op at 10k keys on the dev machine). Only for
 * building replicas outside the timed region; the view is rebuilt once at the end by a save/load.
 */
function amBuild(s: AmDoc, w: LwwWork, from: number, to: number): void {
  const be = A.getBackend(s.doc)
  for (let i = from; i < to; i++) {
    be.put('_root', lwwKey(w, i), w.valueOffset + i)
    be.commit(null, Math.floor(Date.now() / 1000))
  }
}

function amReload(s: AmDoc): void {
  const old = s.doc
  s.doc = A.load<AmRecord>(A.save(old), { actor: A.getActorId(old) })
  A.free(old)
}

export const automergeLww: LwwAdapter<AmDoc, A.Doc<AmRecord>> = {
  system: 'automerge',
  supportsDelta: true,
  create: (node) => ({ doc: A.init<AmRecord>({ actor: amActor(node) }) }),
  sets(s, w, from, to, mode) {
    let doc = s.doc
    const out: Emitted = { deltas: 0, bytes: 0 }
    for (let i = from; i < to; i++) {
      const key = lwwKey(w, i)
      const value = w.valueOffset + i
      doc = A.change(doc, (d) => {
        d[key] = value
      })
      if (mode !== 'none') {
        out.deltas++
        out.bytes += amLastChangeBytes(doc)
      }
    }
    s.doc = doc
    return out
  },
  build(s, w, from, to) {
    amBuild(s, w, from, to)
    amReload(s)
  },
  get: (s, key) => A.getBackend(s.doc).get('_root', key),
  encodeFull: (s) => A.save(s.doc),
  loadFull: (bytes, node) => ({ doc: A.load<AmRecord>(bytes, { actor: amActor(node) }) }),
  deltaOf(s, w, from, to) {
    const before = A.getHeads(s.doc)
    amBuild(s, w, from, to)
    amReload(s)
    return A.saveSince(s.doc, before)
  },
  applyDelta(s, delta) {
    s.doc = A.loadIncremental(s.doc, delta)
  },
  mergeSource: (s) => s.doc,
  copy: (s, node) => ({ doc: A.clone(s.doc, { actor: amActor(node) }) }),
  merge(local, remote) {
    local.doc = A.merge(local.doc, remote)
    return local
  },
  dispose: (s) => A.free(s.doc),
}

export const automergeSet: SetAdapter<AmDoc> = {
  system: 'automerge',
  supportsDelta: true,
  create: (node) => ({ doc: A.init<AmRecord>({ actor: amActor(node) }) }),
  run(s, w, mode) {
    let doc = s.doc
    const out: Emitted = { deltas: 0, bytes: 0 }
    const { ids } = w
    for (let i = 0; i < w.adds; i++) {
      const id = ids[i] as string
      doc = A.change(doc, (d) => {
        d[id] = true
      })
      if (mode !== 'none') {
        out.deltas++
        out.bytes += amLastChangeBytes(doc)
      }
    }
    for (let j = 0; j < w.removes; j++) {
      const id = ids[2 * j] as string
      doc = A.change(doc, (d) => {
        delete d[id]
      })
      if (mode !== 'none') {
        out.deltas++
        out.bytes += amLastChangeBytes(doc)
      }
    }
    s.doc = doc
    return out
  },
  has: (s, id) => A.getBackend(s.doc).get('_root', id) !== undefined,
  size: (s) => A.getBackend(s.doc).keys('_root').length,
  dispose: (s) => A.free(s.doc),
}

// ------------------------------------------------------------------------------------- plain Map baseline

/**
 * The floor: a plain JS Map (a Set for the OR-set workload), no metadata, no conflict resolution. Its
 * "merge" is a blind overwrite and its encodings are JSON; it has no deltas.
 */
export const mapLww: LwwAdapter<Map<string, number>, Map<string, number>> = {
  system: 'map',
  supportsDelta: false,
  create: () => new Map(),
  sets(m, w, from, to, mode) {
    if (mode !== 'none') throw new Error('map: the plain Map baseline has no deltas')
    for (let i = from; i < to; i++) m.set(lwwKey(w, i), w.valueOffset + i)
    return { deltas: 0, bytes: 0 }
  },
  build(m, w, from, to) {
    for (let i = from; i < to; i++) m.set(lwwKey(w, i), w.valueOffset + i)
  },
  get: (m, key) => m.get(key),
  encodeFull: (m) => utf8.encode(JSON.stringify(Object.fromEntries(m))),
  loadFull: (bytes) =>
    new Map(Object.entries(JSON.parse(new TextDecoder().decode(bytes)) as Record<string, number>)),
  deltaOf(m, w, from, to) {
    // The JSON of the entries the ops changed, last write per key: the least a plain store could send.
    const changed = new Map<string, number>()
    for (let i = from; i < to; i++) {
      m.set(lwwKey(w, i), w.valueOffset + i)
      changed.set(lwwKey(w, i), w.valueOffset + i)
    }
    return utf8.encode(JSON.stringify(Object.fromEntries(changed)))
  },
  applyDelta(m, delta) {
    for (const [k, v] of Object.entries(
      JSON.parse(new TextDecoder().decode(delta)) as Record<string, number>,
    ))
      m.set(k, v)
  },
  mergeSource: (m) => m,
  copy: (m) => new Map(m),
  merge(local, remote) {
    for (const [k, v] of remote) local.set(k, v)
    return local
  },
  dispose: () => {},
}

export const mapSet: SetAdapter<Set<string>> = {
  system: 'map',
  supportsDelta: false,
  create: () => new Set(),
  run(s, w, mode) {
    if (mode !== 'none') throw new Error('map: the plain Set baseline has no deltas')
    const { ids } = w
    for (let i = 0; i < w.adds; i++) s.add(ids[i] as string)
    for (let j = 0; j < w.removes; j++) s.delete(ids[2 * j] as string)
    return { deltas: 0, bytes: 0 }
  },
  has: (s, id) => s.has(id),
  size: (s) => s.size,
  dispose: () => {},
}

// The adapters by system. Their state types differ; callers hold them as "some adapter" and only ever pass
// an adapter's own states back to it.
/* eslint-disable @typescript-eslint/no-explicit-any -- reason: a heterogeneous registry; see above */
export type AnyLww = LwwAdapter<any, any>
export type AnySet = SetAdapter<any>
/* eslint-enable @typescript-eslint/no-explicit-any */

export const lwwAdapters: Record<System, AnyLww> = {
  grapevine: grapevineLww,
  yjs: yjsLww,
  loro: loroLww,
  automerge: automergeLww,
  map: mapLww,
}

export const setAdapters: Record<System, AnySet> = {
  grapevine: grapevineSet,
  yjs: yjsSet,
  loro: loroSet,
  automerge: automergeSet,
  map: mapSet,
}
