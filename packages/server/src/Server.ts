/**
 * The curriculum server's state machine: a {@link Session.Session} made
 * durable by a {@link Journal} in the state directory, one request at a time.
 *
 * - A mutating request (select, observe, attach, restore, checkpoint) takes
 *   the lock, computes its change, appends its journal line and fsyncs, and
 *   only then makes the change visible and replies. A retry of a cursor
 *   already selected or observed is answered from committed state without the
 *   lock, so re-selects never wait behind the advancing step.
 * - Start-up recovers: the checkpoint (if any) is restored, then the
 *   journal is replayed through the same code, each entry checked against
 *   its journaled batch or reply.
 * - A curriculum built fresh (at start-up with `batchSize`, else at the first
 *   select) is checkpointed before anything is journaled, so a restart never
 *   repeats a costly build (AdaCuRL's difficulty estimation).
 * - Every `checkpointEvery` observed cursors, and on `POST /v1/checkpoint`,
 *   the session is written to `checkpoint.json` (temp + fsync + rename) and
 *   the journal truncated.
 * - If a change fails half-way (the disk refuses the journal line, the
 *   curriculum fails while observing), the in-memory curriculum may be ahead
 *   of the journal: the server then refuses every mutating request with 500
 *   until it is restarted from its state directory, which recovers the last
 *   durable state.
 *
 * @since 0.3.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Advantage from "@zpd/core/Advantage"
import type * as Curriculum from "@zpd/core/Curriculum"
import type { Dataset } from "@zpd/core/Problem"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { ApiError, badRequest, internal } from "./ApiError.ts"
import * as Journal from "./Journal.ts"
import { idsHash, type Pending, Session } from "./Session.ts"
import * as Wire from "./Wire.ts"

/**
 * How to serve a curriculum.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options<E, R> {
  readonly plugin: Curriculum.Plugin<E, R>
  readonly dataset: Dataset
  readonly seed: number
  /** The run's step budget as the curriculum is told at build (the ordered baseline spans it). */
  readonly steps: number
  /** B; when absent, fixed by the first select's `batch_size`. */
  readonly batchSize: number | undefined
  /** G: completions per prompt (every group's `rewards` has this length). */
  readonly groupSize: number
  /** The state directory: checkpoint.json and journal.jsonl. */
  readonly stateDir: string
  /** Cursors kept below the last observed one for retries after a compaction. Default {@link defaultRetain}. */
  readonly retain?: number
  /** Checkpoint (and compact the journal) every N observed cursors; 0 = only on request. Default {@link defaultCheckpointEvery}. */
  readonly checkpointEvery?: number
  /** When a journal line counts as written (default `fsync`; see {@link Journal.Sync}). */
  readonly sync?: Journal.Sync
  /** The estimator for groups sent without advantages. Default GRPO with verl's conventions (core `Advantage.defaults`). */
  readonly advantage?: Partial<Advantage.AdvantageOptions>
}

/**
 * Observed cursors kept for retries after a compaction: 16 [R].
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultRetain = 16

/**
 * Observed cursors between automatic checkpoints: 1000 [R]. A checkpoint
 * snapshots the whole curriculum (seconds for a 1e6-problem CDAS state, while
 * requests wait); a restart replays at most this many journaled steps
 * (about a millisecond each).
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultCheckpointEvery = 1000

/**
 * A running server (transport-independent: {@link Routes} maps HTTP onto it).
 *
 * @since 0.3.0
 * @category models
 */
export interface Server {
  readonly session: Session
  readonly stateDir: string
  readonly health: () => Record<string, unknown>
  readonly select: (route: string, body: Wire.SelectBody) => Effect.Effect<string, ApiError>
  /** Observes a request body (text or its UTF-8 bytes; decoded here, under the lock); a byte-identical retry is answered from memory. */
  readonly observe: (route: string, body: string | Uint8Array) => Effect.Effect<string, ApiError>
  /** The reply to a byte-identical retry of an accepted observe, if `body` is one. */
  readonly observeRetry: (body: string | Uint8Array) => string | undefined
  readonly attach: (route: string, body: Wire.AttachBody) => Effect.Effect<string, ApiError>
  readonly metrics: () => Record<string, unknown>
  readonly state: () => Effect.Effect<string, ApiError>
  readonly restore: (route: string, state: Record<string, unknown>) => Effect.Effect<string, ApiError>
  readonly checkpoint: (route: string) => Effect.Effect<string, ApiError>
  /**
   * Resolves when the change now being made (its journal line being written)
   * is done, or `undefined` when none is: the retries of that cursor that
   * arrive meanwhile wait for it and are then answered from committed state
   * instead of queueing for the lock.
   */
  readonly settled: () => Promise<void> | undefined
}

const describe = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)

/**
 * Starts a server on `options.stateDir`, recovering whatever it holds. Fails
 * with an {@link ApiError} naming the state file and field when the state
 * belongs to another curriculum, dataset or seed.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = <E, R>(
  options: Options<E, R>
): Effect.Effect<Server, ApiError, R | FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R | FileSystem.FileSystem>()
    const dir = options.stateDir
    const disk = (where: string) => (e: { readonly message: string }) => internal(where, e.message)
    const datasetHash = yield* idsHash(options.dataset.problems.map((p) => p.id))
    const session = new Session({
      name: options.plugin.name,
      identity: options.plugin.identity,
      dataset: options.dataset,
      datasetHash,
      seed: options.seed,
      groupSize: options.groupSize,
      retain: options.retain ?? defaultRetain,
      advantage: { ...Advantage.defaults, ...options.advantage },
      build: (batchSize, resuming) =>
        options.plugin.build({
          dataset: options.dataset,
          seed: options.seed,
          steps: options.steps,
          batchSize,
          groupSize: options.groupSize,
          resuming
        }).pipe(
          Effect.provide(context),
          Effect.mapError((e) => internal(`building curriculum "${options.plugin.name}"`, describe(e)))
        )
    })
    const every = options.checkpointEvery ?? defaultCheckpointEvery
    const lock = yield* Effect.makeSemaphore(1)
    /** Resolves when the holder of the lock lets go; undefined while the lock is free. */
    let holding: Promise<void> | undefined
    const exclusive = <A, E, R2>(effect: Effect.Effect<A, E, R2>): Effect.Effect<A, E, R2> =>
      lock.withPermits(1)(Effect.suspend(() => {
        let release = () => {}
        holding = new Promise<void>((resolve) => (release = resolve))
        return Effect.ensuring(
          effect,
          Effect.sync(() => {
            holding = undefined
            release()
          })
        )
      }))
    let broken: string | undefined
    let sinceCheckpoint = 0

    // Recovery: checkpoint, then journal.
    const saved = yield* Journal.readCheckpoint(dir).pipe(Effect.mapError(disk("--state")))
    if (saved !== undefined) yield* session.restore(Journal.checkpointFile(dir), saved)
    const lines = yield* Journal.readLines(dir).pipe(Effect.mapError(disk("--state")))
    let builtDuringReplay = false
    for (const { entry, line } of lines) {
      const before = session.curriculum
      yield* session.replay(`${Journal.journalFile(dir)}:${line}`, entry)
      if (before === undefined && session.curriculum !== undefined) builtDuringReplay = true
    }
    const journal = yield* Journal.open(dir, options.sync).pipe(Effect.mapError(disk("--state")))

    const writeCheckpoint = Effect.gen(function*() {
      const start = performance.now()
      const path = yield* Journal.writeCheckpoint(dir, session.state(true))
      yield* journal.truncate
      sinceCheckpoint = 0
      session.lastTimings["checkpoint_ms"] = performance.now() - start
      return path
    }).pipe(Effect.provide(context), Effect.mapError(disk("checkpoint")))

    let builtNow = false
    if (options.batchSize !== undefined && options.batchSize > options.dataset.problems.length) {
      return yield* internal(
        "--batch-size",
        `${options.batchSize} is larger than the dataset (${options.dataset.problems.length} problems)`
      )
    }
    if (options.batchSize !== undefined) {
      if (session.batchSize !== undefined && session.batchSize !== options.batchSize) {
        return yield* internal(
          "--batch-size",
          `${options.batchSize} differs from the batch size ${session.batchSize} of the session in ${dir} ` +
            `(give --batch-size ${session.batchSize}, or a fresh --state)`
        )
      }
      builtNow = yield* session.ensureBuilt(options.batchSize)
    }
    if (builtNow || builtDuringReplay || saved === undefined) yield* writeCheckpoint

    /** Runs a change while holding the lock: compute, journal (fsync), commit; a failure after the curriculum moved breaks the server. */
    const locked = (route: string, compute: Effect.Effect<Pending, ApiError>) =>
      Effect.gen(function*() {
        if (broken !== undefined) {
          return yield* internal(
            route,
            `the server stopped accepting changes after a failure (${broken}); restart zpd serve with the same --state to recover`
          )
        }
        const pending = yield* compute
        if (pending.entry !== undefined) {
          const start = performance.now()
          yield* journal.append(pending.entry).pipe(
            Effect.mapError((e) => {
              broken = e.message
              return internal(route, e.message)
            })
          )
          session.lastTimings["journal_ms"] = performance.now() - start
        }
        pending.commit()
        return pending
      })
    const change = (route: string, compute: Effect.Effect<Pending, ApiError>) => exclusive(locked(route, compute))
    const observeRetry = (body: string | Uint8Array) => {
      const t = session.observedBodies.find(Wire.bytes(body))
      return t === undefined ? undefined : session.replies.get(t)?.reply
    }

    const breakOn = (route: string) => (e: ApiError) =>
      Effect.sync(() => {
        if (e.status === 500 && broken === undefined) broken = `${route}: ${e.message}`
      })

    const autoCheckpoint = exclusive(writeCheckpoint).pipe(
      Effect.catchAll((e) => Effect.sync(() => (broken = e.message)))
    )

    return {
      session,
      stateDir: dir,
      health: () => ({
        ok: broken === undefined,
        curriculum: options.plugin.name,
        identity: options.plugin.identity,
        dataset_size: options.dataset.problems.length,
        dataset_hash: datasetHash,
        observed: session.observed,
        selected: session.selected,
        attached: session.attachment !== undefined,
        batch_size: session.batchSize ?? null,
        ...(broken === undefined ? {} : { broken })
      }),
      select: (route, body) => {
        const done = session.selectedReply(route, body)
        if (done instanceof ApiError) return Effect.fail(done)
        if (done !== undefined) return Effect.succeed(done)
        return change(
          route,
          Effect.gen(function*() {
            const batchSize = session.batchSizeFor(route, body.batchSize)
            if (batchSize instanceof ApiError) return yield* batchSize
            // A failed build changes nothing (a retry builds again); a failed select may have moved the curriculum.
            if (yield* session.ensureBuilt(batchSize)) yield* writeCheckpoint
            return yield* session.select(route, body).pipe(Effect.tapError(breakOn(route)))
          })
        ).pipe(Effect.map((p) => p.reply))
      },
      observeRetry,
      observe: (route, raw) => {
        const bytes = Wire.bytes(raw)
        const hit = observeRetry(bytes)
        if (hit !== undefined) return Effect.succeed(hit)
        // Decoded under the lock: the many ranks that send one cursor's body at once then wait for the first,
        // and find their bytes among the accepted ones.
        return exclusive(Effect.suspend(() => {
          const again = observeRetry(bytes)
          if (again !== undefined) return Effect.succeed(again)
          const object = Wire.parseObject(route, Wire.text(raw))
          if (object instanceof ApiError) return Effect.fail(object)
          const body = Wire.observe(route, object, options.groupSize)
          if (body instanceof ApiError) return Effect.fail(body)
          const fresh = body.cursor === session.observed + 1
          const run = body.cursor <= session.observed
            ? session.observe(route, body)
            : locked(route, session.observe(route, body).pipe(Effect.tapError(breakOn(route))))
          return Effect.flatMap(run, (pending) => {
            if (session.replies.has(body.cursor)) session.observedBodies.add(bytes, body.cursor)
            const due = fresh && pending.entry !== undefined && every > 0 && ++sinceCheckpoint >= every
            return Effect.as(due ? Effect.forkDaemon(autoCheckpoint) : Effect.void, pending.reply)
          })
        }))
      },
      attach: (route, body) => Effect.map(change(route, session.attach(route, body)), (p) => p.reply),
      settled: () => holding,
      metrics: () => ({ observed: session.observed, metrics: session.lastMetrics, timings: session.lastTimings }),
      state: () =>
        exclusive(Effect.gen(function*() {
          const cursors = session.unobserved().filter((t) => !session.watched.has(t))
          if (cursors.length > 0) {
            yield* journal.append({ op: "watch", cursors }).pipe(
              Effect.mapError((e) => internal("GET /v1/state", e.message))
            )
            session.watch(cursors)
          }
          return JSON.stringify(session.state(false))
        })),
      restore: (route, state) =>
        exclusive(Effect.gen(function*() {
          const asked = state["observe_recorded"]
          if (asked !== undefined && !(Array.isArray(asked) && asked.every((t) => Number.isInteger(t) && t >= 0))) {
            return yield* badRequest(route, "observe_recorded", "an array of cursors (integers ≥ 0)", asked)
          }
          yield* session.restore(route, state)
          const { notRecorded, reobserved } = asked === undefined
            ? { reobserved: [], notRecorded: [] }
            : yield* session.reobserve(route, asked as Array<number>)
          broken = undefined
          yield* writeCheckpoint
          return JSON.stringify({ observed: session.observed, reobserved, not_recorded: notRecorded })
        })),
      checkpoint: (route) =>
        exclusive(Effect.gen(function*() {
          if (broken !== undefined) return yield* internal(route, `the server is broken (${broken}); restart it`)
          const path = yield* writeCheckpoint
          return JSON.stringify({ observed: session.observed, path })
        }))
    } satisfies Server
  })
