/**
 * A served curriculum: one {@link Curriculum.Curriculum} driven by an external
 * trainer through cursors (0-based training steps) instead of zpd's own loop.
 *
 * Cursor `t` is zpd step `t + 1`: selection uses the same per-(seed, step)
 * random stream as the loop's select stage (`Rng.make(seed, t + 1,
 * "select")`), and observe builds the same {@link Curriculum.Observation}
 * (GRPO advantages from core's `Advantage` when the trainer sends none), so
 * a served SEC or CDAS chooses what `zpd run` would choose given the same
 * outcomes.
 *
 * Every mutating request is computed here as a pending change — its reply,
 * the journal entry that reproduces it, and a `commit` — so the server can
 * make the entry durable before the change becomes visible to other
 * requests (SERVE_API.md: select and observe are idempotent per cursor and
 * journaled). Recovery replays journal entries through the same code and
 * checks that each reproduces its journaled batch and reply.
 *
 * @since 0.3.0
 */
import * as Advantage from "@zpd/core/Advantage"
import { sha256 } from "@zpd/core/Checkpoint"
import type * as Curriculum from "@zpd/core/Curriculum"
import * as Metrics from "@zpd/core/Metrics"
import type { Dataset } from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Stages from "@zpd/core/Stages"
import * as Effect from "effect/Effect"
import { ApiError, badRequest, conflict, internal, preview } from "./ApiError.ts"
import type * as Wire from "./Wire.ts"

/**
 * The format tag of `GET /v1/state`.
 *
 * @since 0.3.0
 * @category constants
 */
export const stateFormat = "zpd-serve-state/1"

/**
 * What a session serves and how.
 *
 * @since 0.3.0
 * @category models
 */
export interface Settings {
  /** The served curriculum's name and identity (canonical JSON of its composition and options). */
  readonly name: string
  readonly identity: string
  readonly dataset: Dataset
  /** `sha256:<hex>` of the problem ids joined by `\n`, in served order. */
  readonly datasetHash: string
  readonly seed: number
  /** Completions per prompt, G: every group's `rewards` must have this length. */
  readonly groupSize: number
  /** Observed cursors (and selections) kept below the last observed one for retries after a compaction. */
  readonly retain: number
  /** Advantage estimator used when a group comes without advantages (default GRPO, verl's conventions). */
  readonly advantage: Advantage.AdvantageOptions
  /** Builds the curriculum for `batchSize` (`resuming`: a snapshot will be restored into it). */
  readonly build: (batchSize: number, resuming: boolean) => Effect.Effect<Curriculum.Curriculum, ApiError>
}

/**
 * A change computed but not yet visible: its reply (JSON text), the journal
 * entry that reproduces it (none for a retry), and `commit`, which makes it
 * visible once the entry is durable.
 *
 * @since 0.3.0
 * @category models
 */
export interface Pending {
  readonly reply: string
  readonly entry: Record<string, unknown> | undefined
  readonly commit: () => void
}

interface Selection {
  /** Served positions. */
  readonly indices: Int32Array
  readonly reply: string
}

interface ObservedReply {
  /** The normalised groups (JSON) the cursor was observed with: a retry must normalise to the same text. */
  readonly groups: string
  readonly reply: string
}

/** The outcomes a watched cursor was observed with (see {@link Session.recorded}). */
interface Recorded {
  /** The cursor's selection (served positions): a restore re-applies the outcomes only to the same batch. */
  readonly indices: ReadonlyArray<number>
  /** The normalised groups (JSON). */
  readonly groups: string
}

/**
 * Watched and recorded cursors kept at most: enough for a trainer that keeps
 * its last few checkpoints [R].
 */
const keptRecords = 16

interface Attachment {
  /** The trainer's ids in the trainer's order. */
  readonly ids: ReadonlyArray<string>
  readonly trainerToServed: Int32Array
  readonly servedToTrainer: Int32Array
}

/**
 * One group as journaled, in selection order: served index, rewards, and the
 * correct flags, advantages and extras when the trainer sent them (defaults
 * are recomputed on replay).
 */
interface NormalGroup {
  readonly i: number
  readonly r: ReadonlyArray<number>
  readonly c?: ReadonlyArray<number>
  readonly a?: ReadonlyArray<number>
  readonly x?: Readonly<Record<string, ReadonlyArray<number>>>
}

/**
 * The request bodies of accepted observes, byte for byte, by cursor: a
 * retry that repeats its bytes is recognised by comparing bytes (no decoding,
 * so the many ranks that resend a 30 KB body leave no 30 KB string each
 * behind for the garbage collector). Not persisted: after a restart the
 * first retry of a cursor is decoded and compared once.
 *
 * @since 0.3.0
 * @category models
 */
export class ObservedBodies {
  private readonly byLength = new Map<number, Array<{ readonly bytes: Uint8Array; readonly cursor: number }>>()

  /** The cursor whose accepted observe had exactly these bytes, if any. */
  find(bytes: Uint8Array): number | undefined {
    for (const b of this.byLength.get(bytes.length) ?? []) if (sameBytes(b.bytes, bytes)) return b.cursor
    return undefined
  }

  /** Remembers `bytes` (copied) as an accepted body of `cursor`. */
  add(bytes: Uint8Array, cursor: number): void {
    if (this.find(bytes) !== undefined) return
    const list = this.byLength.get(bytes.length)
    const entry = { bytes: new Uint8Array(bytes), cursor }
    if (list === undefined) this.byLength.set(bytes.length, [entry])
    else list.push(entry)
  }

  /** Forgets the bodies of cursors below `floor`. */
  forget(floor: number): void {
    for (const [length, list] of this.byLength) {
      const kept = list.filter((b) => b.cursor >= floor)
      if (kept.length === 0) this.byLength.delete(length)
      else if (kept.length < list.length) this.byLength.set(length, kept)
    }
  }

  clear(): void {
    this.byLength.clear()
  }
}

/** Byte equality of two arrays of one length, four bytes at a time where it can. */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  const n = a.length
  const va = new DataView(a.buffer, a.byteOffset, n)
  const vb = new DataView(b.buffer, b.byteOffset, n)
  let i = 0
  for (; i + 4 <= n; i += 4) if (va.getUint32(i) !== vb.getUint32(i)) return false
  for (; i < n; i++) if (a[i] !== b[i]) return false
  return true
}

/** Drops the smallest keys of `kept` beyond {@link keptRecords}. */
const trim = (kept: Set<number> | Map<number, unknown>): void => {
  if (kept.size <= keptRecords) return
  const keys = [...kept.keys()].sort((a, b) => a - b)
  for (const t of keys.slice(0, keys.length - keptRecords)) kept.delete(t)
}

/** JSON text; non-finite numbers (a metric over an empty set) become `null`, as JSON.stringify writes them. */
const json = (value: unknown): string => JSON.stringify(value)

/**
 * `sha256:<hex>` over the ids joined by `\n`.
 *
 * @since 0.3.0
 * @category hashing
 */
export const idsHash = (ids: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.map(sha256(ids.join("\n")), (hex) => `sha256:${hex}`)

/**
 * The live session. Mutating methods return a {@link Pending}; read methods
 * see committed state only.
 *
 * @since 0.3.0
 * @category models
 */
export class Session {
  curriculum: Curriculum.Curriculum | undefined = undefined
  batchSize: number | undefined = undefined
  /** Last observed cursor, −1 before the first. */
  observed = -1
  /** Highest selected cursor, −1 before the first. */
  selected = -1
  readonly selections = new Map<number, Selection>()
  readonly replies = new Map<number, ObservedReply>()
  /** Request bodies of accepted observes: a byte-identical retry is answered without decoding. */
  readonly observedBodies = new ObservedBodies()
  /**
   * Cursors that were selected but not observed when the trainer took its
   * state (`GET /v1/state`): their outcomes are recorded when they arrive.
   */
  readonly watched = new Set<number>()
  /**
   * The outcomes of watched cursors. A trainer that saves its checkpoint after
   * training a step but before reporting its outcomes (verl) restores with
   * `observe_recorded`, and the server re-applies them instead of having the
   * step selected and trained again ({@link reobserve}).
   */
  readonly recorded = new Map<number, Recorded>()
  attachment: Attachment | undefined = undefined
  lastMetrics: Record<string, number> = {}
  readonly lastTimings: Record<string, number> = {}
  private idIndex: Map<string, number> | undefined = undefined
  private promptHashes: Array<string> | undefined = undefined

  readonly settings: Settings

  constructor(settings: Settings) {
    this.settings = settings
  }

  /** Builds the curriculum for `batchSize` unless it exists; true when it was built fresh now. */
  ensureBuilt(batchSize: number): Effect.Effect<boolean, ApiError> {
    if (this.curriculum !== undefined) return Effect.succeed(false)
    return Effect.map(this.settings.build(batchSize, false), (c) => {
      this.curriculum = c
      this.batchSize = batchSize
      return true
    })
  }

  // -------------------------------------------------------------------------
  // select
  // -------------------------------------------------------------------------

  /** The committed reply for a cursor selected before, if any (the lock-free retry path). */
  selectedReply(route: string, body: Wire.SelectBody): string | ApiError | undefined {
    const done = this.selections.get(body.cursor)
    if (done === undefined) return undefined
    return this.checkBatchSize(route, body.batchSize) ?? done.reply
  }

  private checkBatchSize(route: string, requested: number | undefined): ApiError | undefined {
    if (requested === undefined || this.batchSize === undefined || requested === this.batchSize) return undefined
    return badRequest(
      route,
      "batch_size",
      `${this.batchSize}, the batch size fixed by --batch-size or the first select (it cannot change)`,
      requested
    )
  }

  /** The batch size a select for `requested` runs with, or the error naming `batch_size`. */
  batchSizeFor(route: string, requested: number | undefined): number | ApiError {
    const bad = this.checkBatchSize(route, requested)
    if (bad) return bad
    const b = this.batchSize ?? requested
    if (b === undefined) {
      return badRequest(route, "batch_size", "an integer ≥ 1 (required: the server was started without --batch-size)")
    }
    const n = this.settings.dataset.problems.length
    if (b > n) return badRequest(route, "batch_size", `at most the dataset size ${n}`, b)
    return b
  }

  /** Selects cursor `body.cursor` (after {@link ensureBuilt}): the journaled batch for a cursor selected before. */
  select(route: string, body: Wire.SelectBody): Effect.Effect<Pending, ApiError> {
    // Lazy: the checks must see the state as it is when the server's lock runs this, not when it was queued.
    return Effect.suspend(() => this.selectNow(route, body))
  }

  private selectNow(route: string, body: Wire.SelectBody): Effect.Effect<Pending, ApiError> {
    const done = this.selectedReply(route, body)
    if (done instanceof ApiError) return Effect.fail(done)
    if (done !== undefined) return Effect.succeed({ reply: done, entry: undefined, commit: () => {} })
    const t = body.cursor
    if (t <= this.selected) {
      return Effect.fail(conflict(
        "compacted",
        route,
        `cursor ${t} was selected before the last checkpoint and is no longer kept (kept: cursors ≥ ${this.oldestKept()}); ask for cursor ${
          this.selected + 1
        } or later`
      ))
    }
    if (t > this.observed + 3) {
      return Effect.fail(conflict(
        "too_far_ahead",
        route,
        `cursor ${t} is more than two steps ahead of feedback (last observed cursor ${this.observed}; ` +
          `allowed up to ${this.observed + 3}): observe cursor ${this.observed + 1} first`
      ))
    }
    if (t !== this.selected + 1) {
      return Effect.fail(conflict(
        "cursor_gap",
        route,
        `cursor ${t} skips cursor ${this.selected + 1}: select cursors in order (next: ${this.selected + 1})`
      ))
    }
    const curriculum = this.curriculum
    if (curriculum === undefined) return Effect.fail(internal(route, "the curriculum is not built"))
    const batchSize = this.batchSize!
    const n = this.settings.dataset.problems.length
    return Effect.gen(this, function*() {
      const start = performance.now()
      const batch = yield* curriculum.select({
        step: t + 1,
        batchSize,
        rng: Rng.make(this.settings.seed, t + 1, "select")
      })
      this.lastTimings["select_ms"] = performance.now() - start
      const indices = Int32Array.from(batch)
      for (let k = 0; k < batch.length; k++) {
        const i = batch[k]!
        if (!Number.isInteger(i) || i < 0 || i >= n) {
          return yield* internal(
            route,
            `curriculum "${curriculum.name}" selected index ${i}; expected an integer in [0, ${n})`
          )
        }
      }
      const selection = { indices, reply: this.selectReply(t, indices) }
      return {
        reply: selection.reply,
        entry: { op: "select", cursor: t, batch_size: batchSize, indices: Array.from(indices) },
        commit: () => {
          this.selections.set(t, selection)
          this.selected = t
        }
      }
    })
  }

  private selectReply(t: number, indices: Int32Array): string {
    const problems = this.settings.dataset.problems
    const toTrainer = this.attachment?.servedToTrainer
    const positions = new Array<number>(indices.length)
    const ids = new Array<string>(indices.length)
    for (let k = 0; k < indices.length; k++) {
      positions[k] = toTrainer === undefined ? indices[k]! : toTrainer[indices[k]!]!
      ids[k] = problems[indices[k]!]!.id
    }
    return JSON.stringify({ cursor: t, indices: positions, ids })
  }

  private oldestKept(): number {
    let oldest = Infinity
    for (const t of this.selections.keys()) oldest = Math.min(oldest, t)
    return Number.isFinite(oldest) ? oldest : this.selected + 1
  }

  // -------------------------------------------------------------------------
  // observe
  // -------------------------------------------------------------------------

  /**
   * Puts the groups in the selection's order with served indices and the
   * defaults filled in (`correct` = reward > 0, GRPO advantages); names the
   * first index that is not selected or is missing.
   */
  normalise(route: string, body: Wire.ObserveBody, selection: Selection): Array<NormalGroup> | ApiError {
    const t = body.cursor
    const toServed = this.attachment?.trainerToServed
    const byIndex = new Map<number, Array<number>>()
    for (let g = 0; g < body.groups.length; g++) {
      const trainer = body.groups[g]!.index
      const served = toServed === undefined ? trainer : (toServed[trainer] ?? -1)
      const list = byIndex.get(served)
      if (list === undefined) byIndex.set(served, [g])
      else list.push(g)
    }
    const out: Array<NormalGroup> = []
    for (let k = 0; k < selection.indices.length; k++) {
      const i = selection.indices[k]!
      const list = byIndex.get(i)
      const g = list?.shift()
      if (g === undefined) {
        const trainer = this.attachment?.servedToTrainer[i] ?? i
        return badRequest(
          route,
          "groups",
          `one group per selected index of cursor ${t}; index ${trainer} (selected at position ${k}) has no group`
        )
      }
      const group = body.groups[g]!
      out.push({
        i,
        r: group.rewards,
        ...(group.correct === undefined ? {} : { c: group.correct }),
        ...(group.advantages === undefined ? {} : { a: group.advantages }),
        ...(group.extra === undefined ? {} : { x: group.extra })
      })
    }
    for (const [, rest] of byIndex) {
      if (rest.length > 0) {
        const g = rest[0]!
        return badRequest(
          route,
          `groups[${g}].index`,
          `an index selected at cursor ${t} (each once per time it was selected)`,
          body.groups[g]!.index
        )
      }
    }
    return out
  }

  /** Observes cursor `body.cursor`. */
  observe(route: string, body: Wire.ObserveBody): Effect.Effect<Pending, ApiError> {
    // Lazy, as select: two concurrent observes of one cursor must apply it once.
    return Effect.suspend(() => this.observeNow(route, body))
  }

  private observeNow(route: string, body: Wire.ObserveBody): Effect.Effect<Pending, ApiError> {
    const t = body.cursor
    const selection = this.selections.get(t)
    if (t > this.observed + 1) {
      return Effect.fail(conflict(
        "out_of_order",
        route,
        `cursor ${t} cannot be observed before cursor ${this.observed + 1} (observe cursors in order)`
      ))
    }
    if (t === this.observed + 1 && selection === undefined) {
      return Effect.fail(conflict("not_selected", route, `cursor ${t} was never selected: select it first`))
    }
    if (t <= this.observed) {
      const done = this.replies.get(t)
      if (done === undefined || selection === undefined) {
        return Effect.fail(conflict(
          "compacted",
          route,
          `cursor ${t} was observed before the last checkpoint and its reply is no longer kept (last observed: ${this.observed})`
        ))
      }
      const groups = this.normalise(route, body, selection)
      if (groups instanceof ApiError) return Effect.fail(groups)
      return json(groups) === done.groups
        ? Effect.succeed({ reply: done.reply, entry: undefined, commit: () => {} })
        : Effect.fail(conflict(
          "observe_conflict",
          route,
          `cursor ${t} was already observed with different groups (${differs(done.groups, groups)}); ` +
            `a retry must repeat the same body`
        ))
    }
    const groups = this.normalise(route, body, selection!)
    if (groups instanceof ApiError) return Effect.fail(groups)
    return this.apply(route, t, groups)
  }

  /** Feeds normalised groups to the curriculum (live or replayed). */
  apply(route: string, t: number, groups: ReadonlyArray<NormalGroup>): Effect.Effect<Pending, ApiError> {
    const curriculum = this.curriculum
    if (curriculum === undefined) return Effect.fail(internal(route, "the curriculum is not built"))
    const problems = this.settings.dataset.problems
    const outcomes: Array<Curriculum.GroupOutcome> = groups.map((g) => {
      const rewards = Float64Array.from(g.r)
      const correct = g.c === undefined ? Uint8Array.from(g.r, (r) => (r > 0 ? 1 : 0)) : Uint8Array.from(g.c)
      let solved = 0
      for (const c of correct) solved += c
      return {
        index: g.i,
        problem: problems[g.i]!,
        rewards,
        passRate: correct.length === 0 ? 0 : solved / correct.length,
        advantages: g.a === undefined
          ? Advantage.groupAdvantages(rewards, this.settings.advantage)
          : Float64Array.from(g.a),
        correct
      }
    })
    return Effect.gen(this, function*() {
      const text = json(groups)
      const start = performance.now()
      const events = yield* curriculum.observe({ step: t + 1, groups: outcomes }).pipe(
        Effect.mapError((e) =>
          internal(route, `curriculum "${curriculum.name}" failed to observe cursor ${t}: ${e.message}`)
        )
      )
      this.lastTimings["observe_ms"] = performance.now() - start
      const metrics = stepMetrics(outcomes, groups, problems, curriculum.metrics())
      const reply = json({ cursor: t, events, metrics })
      return {
        reply,
        entry: { op: "observe", cursor: t, groups, reply: JSON.parse(reply) as unknown },
        commit: () => {
          this.replies.set(t, { groups: text, reply })
          const selection = this.selections.get(t)
          if (this.watched.delete(t) && selection !== undefined) {
            this.recorded.set(t, { indices: Array.from(selection.indices), groups: text })
            trim(this.recorded)
          }
          this.observed = t
          this.lastMetrics = metrics
          this.forget()
        }
      }
    })
  }

  /** Drops selections and replies more than `retain` cursors below the last observed one. */
  private forget(): void {
    const floor = this.observed - this.settings.retain
    for (const t of this.selections.keys()) if (t < floor) this.selections.delete(t)
    for (const t of this.replies.keys()) if (t < floor) this.replies.delete(t)
    this.observedBodies.forget(floor)
  }

  // -------------------------------------------------------------------------
  // attach
  // -------------------------------------------------------------------------

  private index(): Map<string, number> {
    if (this.idIndex === undefined) {
      this.idIndex = new Map(this.settings.dataset.problems.map((p, i) => [p.id, i]))
    }
    return this.idIndex
  }

  /** Maps the trainer's ids onto served positions; names the first missing, extra or duplicated id. */
  private mapIds(
    route: string,
    ids: ReadonlyArray<string>,
    promptSha256: ReadonlyArray<string> | undefined
  ): Effect.Effect<Attachment, ApiError> {
    return Effect.gen(this, function*() {
      const problems = this.settings.dataset.problems
      const n = problems.length
      const index = this.index()
      const trainerToServed = new Int32Array(ids.length)
      const servedToTrainer = new Int32Array(n).fill(-1)
      for (let j = 0; j < ids.length; j++) {
        const id = ids[j]!
        const i = index.get(id)
        if (i === undefined) {
          return yield* conflict(
            "dataset_mismatch",
            route,
            `ids[${j}] = ${preview(id)} is not in the served dataset (${n} problems, ${this.settings.datasetHash})`
          )
        }
        if (servedToTrainer[i] !== -1) {
          return yield* conflict(
            "dataset_mismatch",
            route,
            `ids[${j}] = ${preview(id)} is duplicated (also ids[${servedToTrainer[i]}])`
          )
        }
        trainerToServed[j] = i
        servedToTrainer[i] = j
      }
      if (ids.length !== n) {
        const missing = servedToTrainer.indexOf(-1)
        return yield* conflict(
          "dataset_mismatch",
          route,
          `id ${preview(problems[missing]!.id)} of the served dataset (position ${missing}) is missing from ids ` +
            `(${ids.length} ids for ${n} served problems)`
        )
      }
      if (promptSha256 !== undefined) {
        const hashes = yield* this.prompts()
        for (let j = 0; j < ids.length; j++) {
          if (hashes[trainerToServed[j]!] !== promptSha256[j]) {
            return yield* conflict(
              "dataset_mismatch",
              route,
              `prompt_sha256[${j}] (id ${preview(ids[j])}) differs from the served prompt's sha256 ` +
                `${hashes[trainerToServed[j]!]}: the prompt text is not the same`
            )
          }
        }
      }
      return { ids, trainerToServed, servedToTrainer }
    })
  }

  /** `POST /v1/attach`: idempotent for the same ids; another order is refused once a cursor was selected. */
  attach(route: string, body: Wire.AttachBody): Effect.Effect<Pending, ApiError> {
    return Effect.gen(this, function*() {
      const reply = JSON.stringify({
        dataset_size: this.settings.dataset.problems.length,
        dataset_hash: this.settings.datasetHash
      })
      const attachment = yield* this.mapIds(route, body.ids, body.promptSha256)
      const current = this.attachment
      const same = current !== undefined && current.ids.length === body.ids.length &&
        current.ids.every((id, j) => id === body.ids[j])
      if (same) return { reply, entry: undefined, commit: () => {} }
      if (this.selected >= 0) {
        return yield* conflict(
          "dataset_mismatch",
          route,
          `a different attach after cursor ${this.selected} was selected would change what its indices mean; ` +
            `attach the same ids in the same order (or start a fresh --state)`
        )
      }
      return {
        reply,
        entry: { op: "attach", ids: body.ids },
        commit: () => {
          this.attachment = attachment
        }
      }
    })
  }

  private prompts(): Effect.Effect<Array<string>> {
    if (this.promptHashes !== undefined) return Effect.succeed(this.promptHashes)
    return Effect.map(
      Effect.forEach(this.settings.dataset.problems, (p) => sha256(p.prompt)),
      (hashes) => (this.promptHashes = hashes)
    )
  }

  // -------------------------------------------------------------------------
  // state
  // -------------------------------------------------------------------------

  /**
   * The session as `GET /v1/state` returns it (`all`: also the selections and
   * replies of observed cursors still kept, as the checkpoint file holds).
   */
  state(all: boolean): Record<string, unknown> {
    const selections: Record<string, ReadonlyArray<number>> = {}
    for (const [t, s] of [...this.selections].sort((a, b) => a[0] - b[0])) {
      if (all || t > this.observed) selections[String(t)] = Array.from(s.indices)
    }
    const replies: Record<string, ObservedReply> = {}
    if (all) { for (const [t, r] of [...this.replies].sort((a, b) => a[0] - b[0])) replies[String(t)] = r }
    return {
      format: stateFormat,
      curriculum_name: this.settings.name,
      identity: this.settings.identity,
      dataset_hash: this.settings.datasetHash,
      seed: this.settings.seed,
      batch_size: this.batchSize ?? null,
      observed: this.observed,
      selected: this.selected,
      curriculum: this.curriculum === undefined ? null : this.curriculum.snapshot(),
      selections,
      ...(all
        ? { replies, watched: [...this.watched].sort((a, b) => a - b), recorded: Object.fromEntries(this.recorded) }
        : {}),
      attach: this.attachment === undefined ? null : { ids: this.attachment.ids }
    }
  }

  /**
   * Replaces the session with a {@link state} value (a `POST /v1/restore`
   * body or the checkpoint file); 409 naming the field when it belongs to
   * another curriculum, dataset or seed, 400 when it does not decode.
   */
  restore(route: string, state: Record<string, unknown>): Effect.Effect<void, ApiError> {
    return Effect.gen(this, function*() {
      if (state["format"] !== stateFormat) {
        return yield* badRequest(route, "format", `"${stateFormat}"`, state["format"])
      }
      const mismatch = (field: string, mine: unknown) =>
        conflict(
          field === "dataset_hash" ? "dataset_mismatch" : "state_mismatch",
          route,
          `field "${field}": the state is for ${preview(state[field])}, this server serves ${preview(mine)}`
        )
      if (state["identity"] !== this.settings.identity) return yield* mismatch("identity", this.settings.identity)
      if (state["dataset_hash"] !== this.settings.datasetHash) {
        return yield* mismatch("dataset_hash", this.settings.datasetHash)
      }
      if (state["seed"] !== undefined && state["seed"] !== this.settings.seed) {
        return yield* mismatch("seed", this.settings.seed)
      }
      const observed = state["observed"]
      if (typeof observed !== "number" || !Number.isInteger(observed) || observed < -1) {
        return yield* badRequest(route, "observed", "an integer ≥ −1", observed)
      }
      const b = state["batch_size"]
      if (b !== null && b !== undefined && !(typeof b === "number" && Number.isInteger(b) && b >= 1)) {
        return yield* badRequest(route, "batch_size", "an integer ≥ 1 or null", b)
      }
      if (this.batchSize !== undefined && typeof b === "number" && b !== this.batchSize) {
        return yield* mismatch("batch_size", this.batchSize)
      }
      const n = this.settings.dataset.problems.length
      const selections = new Map<number, Int32Array>()
      const raw = state["selections"] ?? {}
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        return yield* badRequest(route, "selections", "an object {cursor: [indices]}", raw)
      }
      for (const [key, value] of Object.entries(raw)) {
        const t = Number(key)
        const ok = Number.isInteger(t) && t >= 0 && Array.isArray(value) &&
          value.every((i) => Number.isInteger(i) && i >= 0 && i < n)
        if (!ok) return yield* badRequest(route, `selections.${key}`, `an array of indices in [0, ${n})`, value)
        selections.set(t, Int32Array.from(value as Array<number>))
      }
      const attach = state["attach"]
      let attachment: Attachment | undefined
      if (attach !== null && attach !== undefined) {
        const ids = (attach as { ids?: unknown }).ids
        if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) {
          return yield* badRequest(route, "attach.ids", "an array of ids", ids)
        }
        attachment = yield* this.mapIds(`${route} attach.ids`, ids as Array<string>, undefined)
      }
      const snapshot = state["curriculum"]
      let curriculum = this.curriculum
      if (snapshot !== null && snapshot !== undefined) {
        if (typeof b !== "number") {
          return yield* badRequest(route, "batch_size", "an integer (the state has a curriculum)", b)
        }
        curriculum = yield* this.settings.build(b, true)
        yield* curriculum.restore(snapshot).pipe(
          Effect.mapError((e) => badRequest(route, "curriculum", `a snapshot of ${this.settings.name}`, e.message))
        )
      } else if (observed >= 0 || selections.size > 0) {
        return yield* badRequest(route, "curriculum", "the curriculum snapshot (the state has selections)", snapshot)
      }
      const replies = new Map<number, ObservedReply>()
      const rawReplies = state["replies"]
      if (typeof rawReplies === "object" && rawReplies !== null) {
        for (const [key, value] of Object.entries(rawReplies)) {
          const r = value as Partial<ObservedReply>
          if (typeof r.groups === "string" && typeof r.reply === "string") replies.set(Number(key), r as ObservedReply)
        }
      }
      this.curriculum = curriculum
      this.batchSize = typeof b === "number" ? b : this.batchSize
      this.observed = observed
      this.attachment = attachment
      this.selections.clear()
      for (const [t, indices] of selections) this.selections.set(t, { indices, reply: this.selectReply(t, indices) })
      this.selected = Math.max(observed, ...selections.keys())
      this.replies.clear()
      this.observedBodies.clear()
      for (const [t, r] of replies) this.replies.set(t, r)
      // A server checkpoint carries what the server watched and recorded; a trainer's state does not, and
      // restoring it keeps them (they are the server's own knowledge of steps after that state).
      if (Array.isArray(state["watched"])) {
        this.watched.clear()
        for (const t of state["watched"]) if (Number.isInteger(t)) this.watched.add(t as number)
      }
      const recorded = state["recorded"]
      if (typeof recorded === "object" && recorded !== null && !Array.isArray(recorded)) {
        this.recorded.clear()
        for (const [key, value] of Object.entries(recorded)) {
          const r = value as Partial<Recorded>
          if (Array.isArray(r.indices) && typeof r.groups === "string") {
            this.recorded.set(Number(key), { indices: r.indices, groups: r.groups })
          }
        }
      }
    })
  }

  /** The cursors selected but not yet observed. */
  unobserved(): Array<number> {
    const out: Array<number> = []
    for (let t = this.observed + 1; t <= this.selected; t++) out.push(t)
    return out
  }

  /** Watches `cursors` (see {@link watched}); the oldest beyond {@link keptRecords} are dropped. */
  watch(cursors: ReadonlyArray<number>): void {
    for (const t of cursors) this.watched.add(t)
    trim(this.watched)
  }

  /**
   * Re-applies the recorded outcomes of `cursors` (ascending, starting at the
   * first unobserved cursor) after a restore; stops at the first cursor with
   * no record for its batch. Returns the cursors re-applied and those not.
   */
  reobserve(
    route: string,
    cursors: ReadonlyArray<number>
  ): Effect.Effect<{ readonly reobserved: Array<number>; readonly notRecorded: Array<number> }, ApiError> {
    return Effect.gen(this, function*() {
      const reobserved: Array<number> = []
      const sorted = [...cursors].sort((a, b) => a - b)
      for (let k = 0; k < sorted.length; k++) {
        const t = sorted[k]!
        const record = this.recorded.get(t)
        const selection = this.selections.get(t)
        if (
          t !== this.observed + 1 || record === undefined || selection === undefined ||
          json(record.indices) !== json(Array.from(selection.indices))
        ) {
          return { reobserved, notRecorded: sorted.slice(k) }
        }
        const pending = yield* this.apply(route, t, JSON.parse(record.groups) as Array<NormalGroup>)
        pending.commit()
        reobserved.push(t)
      }
      return { reobserved, notRecorded: [] }
    })
  }

  // -------------------------------------------------------------------------
  // replay
  // -------------------------------------------------------------------------

  /**
   * Re-applies one journal entry; entries the checkpoint already holds are
   * skipped. Fails when the replay does not reproduce the journaled batch or
   * reply (the curriculum, data or seed changed under the state directory).
   */
  replay(where: string, entry: Record<string, unknown>): Effect.Effect<void, ApiError> {
    return Effect.gen(this, function*() {
      const op = entry["op"]
      const cursor = entry["cursor"] as number
      if (op === "attach") {
        const pending = yield* this.attach(where, { ids: entry["ids"] as Array<string>, promptSha256: undefined })
        pending.commit()
      } else if (op === "select") {
        if (cursor <= this.selected) return
        yield* this.ensureBuilt(entry["batch_size"] as number)
        const pending = yield* this.select(where, { cursor, batchSize: entry["batch_size"] as number })
        if (pending.entry !== undefined && json(pending.entry["indices"]) !== json(entry["indices"])) {
          return yield* replayDiffers(where, cursor, "select", "batch")
        }
        pending.commit()
      } else if (op === "observe") {
        if (cursor <= this.observed) return
        const pending = yield* this.apply(where, cursor, entry["groups"] as Array<NormalGroup>)
        if (pending.reply !== json(entry["reply"])) return yield* replayDiffers(where, cursor, "observe", "reply")
        pending.commit()
      } else if (op === "watch") {
        this.watch(entry["cursors"] as Array<number>)
      } else {
        return yield* internal(where, `unknown journal entry ${preview(op)}`)
      }
    })
  }
}

/** Where two normalised group lists first differ, for the conflict message. */
/** A replayed journal entry that does not reproduce what was journaled. */
const replayDiffers = (where: string, cursor: number, op: string, result: string): ApiError =>
  internal(
    where,
    `replaying ${op} of cursor ${cursor} gives another ${result} than the journaled one ` +
      `(the curriculum, data or seed differs from the run that wrote this state directory)`
  )

const differs = (journaled: string, groups: ReadonlyArray<NormalGroup>): string => {
  const before = JSON.parse(journaled) as Array<NormalGroup>
  const k = groups.findIndex((g, j) => json(g) !== json(before[j]))
  return k < 0 ? "same groups" : `the group at position ${k} of the selection differs`
}

/**
 * The step metrics of an observe reply: the loop's reward and advantage
 * metrics (`reward_mean`, `pass_rate_mean`, `frac_reward_zero_std`,
 * `adv_abs_mean`, `effective_ratio`, `sampled_difficulty_mean`,
 * `batch_size`), the means of the groups' `extra` values (`<name>_mean`) and
 * the curriculum's own metrics.
 *
 * @since 0.3.0
 * @category metrics
 */
export const stepMetrics = (
  outcomes: ReadonlyArray<Curriculum.GroupOutcome>,
  groups: ReadonlyArray<NormalGroup>,
  problems: Dataset["problems"],
  curriculum: Readonly<Record<string, number>>
): Record<string, number> => {
  const sink = new Metrics.Sink()
  Stages.recordRewardMetrics(sink, outcomes)
  Stages.recordAdvantageMetrics(sink, outcomes.map((g) => g.advantages))
  let levels = 0
  for (const g of outcomes) levels += problems[g.index]!.level
  const per = (x: number, n: number) => (n === 0 ? Number.NaN : x / n)
  sink.set("sampled_difficulty_mean", per(levels, outcomes.length))
  sink.set("batch_size", outcomes.length)
  const extras = new Map<string, { sum: number; n: number }>()
  for (const g of groups) {
    for (const [name, values] of Object.entries(g.x ?? {})) {
      const e = extras.get(name) ?? { sum: 0, n: 0 }
      for (const v of values) e.sum += v
      e.n += values.length
      extras.set(name, e)
    }
  }
  for (const [name, e] of extras) sink.set(`${name}_mean`, per(e.sum, e.n))
  for (const [name, value] of Object.entries(curriculum)) sink.set(name, value)
  const { step: _, ...record } = sink.record(0)
  return record as Record<string, number>
}
