/**
 * The promise-based hot path of the HTTP inference client: the requests of
 * one call run as plain promises (a pool of workers, a FIFO permit queue,
 * one fetch per attempt), wrapped once in `Effect.async` by the caller. At
 * thousands of requests per step, a fiber, scope and timer race per request
 * cost more CPU than the request itself; here a request costs a few promise
 * continuations. What is rare stays in Effect: a failed first attempt hands
 * over to `Http.withRetries` in a fiber of the caller's runtime.
 *
 * A {@link Batch} knows everything one interrupt must stop: fetches in
 * flight, queued permit requests, permits held, retry fibers.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import { type FetchAttempt, type Settled, withFetchDeadline } from "./http.ts"

/**
 * A counting semaphore whose release hands the permit to the longest waiter
 * only (first in, first out), so a queue of W waiters costs O(1) per
 * release, not O(W) as a wake-all semaphore does. Bounds the requests in
 * flight over every concurrent call of one client.
 *
 * @internal
 */
export class Permits {
  private available: number
  private waiters: Array<Waiter> = []
  private head = 0
  constructor(size: number) {
    this.available = size
  }
  /**
   * Takes a permit now and returns `undefined`, or queues `granted` (called
   * once a permit is handed over) and returns the waiter, which
   * {@link cancel} takes out of the queue.
   */
  take(granted: () => void): Waiter | undefined {
    if (this.available > 0) {
      this.available--
      return undefined
    }
    const waiter: Waiter = { wake: granted, cancelled: false }
    this.waiters.push(waiter)
    return waiter
  }
  /** Leaves the queue: a cancelled waiter is skipped and never gets a permit. */
  cancel(waiter: Waiter): void {
    waiter.cancelled = true
  }
  /** Hands one permit to the longest waiter, or puts it back. */
  give(): void {
    while (this.head < this.waiters.length) {
      const waiter = this.waiters[this.head++]!
      if (this.head === this.waiters.length) {
        this.waiters = []
        this.head = 0
      }
      if (!waiter.cancelled) return waiter.wake()
    }
    this.available++
  }
}

/** @internal */
export interface Waiter {
  readonly wake: () => void
  cancelled: boolean
}

/**
 * The requests of one call. Everything started through it stops when
 * {@link Batch.cancel} is called: fetches are aborted, queued permit
 * requests leave the queue, held permits are given back, retry fibers are
 * interrupted; their promises then never settle (the caller has stopped
 * listening).
 *
 * @internal
 */
export class Batch {
  private readonly stops = new Set<() => void>()
  private stopped = false
  private readonly permits: Permits
  constructor(permits: Permits) {
    this.permits = permits
  }

  get cancelled(): boolean {
    return this.stopped
  }

  cancel(): void {
    if (this.stopped) return
    this.stopped = true
    for (const stop of this.stops) stop()
    this.stops.clear()
  }

  /** Registers `stop` until the returned function is called. */
  private hold(stop: () => void): () => void {
    if (this.stopped) {
      stop()
      return noop
    }
    this.stops.add(stop)
    return () => this.stops.delete(stop)
  }

  /**
   * Runs `f` holding one permit (waiting for it in FIFO order); the permit
   * goes back when `f` settles, or at once when the batch is cancelled.
   */
  withPermit<A>(f: () => Promise<A>): Promise<A> {
    const run = (): Promise<A> => {
      let holding = true
      const giveBack = () => {
        if (holding) {
          holding = false
          this.permits.give()
        }
      }
      const release = this.hold(giveBack)
      if (this.stopped) return never()
      return f().finally(() => {
        release()
        giveBack()
      })
    }
    if (this.stopped) return never()
    let resolveGranted!: () => void
    const granted = new Promise<void>((resolve) => {
      resolveGranted = resolve
    })
    let release = noop
    const waiter = this.permits.take(() => {
      release()
      resolveGranted()
    })
    if (waiter === undefined) return run()
    release = this.hold(() => this.permits.cancel(waiter))
    return granted.then(run)
  }

  /**
   * One attempt within `timeout` (see `Http.withFetchDeadline`), aborted if
   * the batch is cancelled. `done` runs once, when it settles or is cancelled.
   */
  attempt(
    attempt: FetchAttempt,
    method: "GET" | "POST",
    url: string,
    body: string | undefined,
    timeout: Duration.Duration,
    done: () => void = noop
  ): Promise<Settled> {
    if (this.stopped) {
      done()
      return never()
    }
    return new Promise((resolve) => {
      let release = noop
      const cancel = withFetchDeadline(attempt, method, url, body, timeout, (outcome) => {
        release()
        done()
        resolve(outcome)
      })
      release = this.hold(() => {
        cancel()
        done()
      })
    })
  }

  /**
   * Runs `effect` in a fiber of `runtime`, interrupted if the batch is
   * cancelled; resolves with its value, rejects with its failure (or defect).
   */
  run<A, E>(runtime: Runtime.Runtime<never>, effect: Effect.Effect<A, E>): Promise<A> {
    if (this.stopped) return never()
    return new Promise((resolve, reject) => {
      const fiber = Runtime.runFork(runtime)(effect)
      const release = this.hold(() => fiber.unsafeInterruptAsFork(FiberId.none))
      fiber.addObserver((exit) => {
        release()
        if (Exit.isSuccess(exit)) resolve(exit.value)
        else if (!Exit.isInterrupted(exit)) reject(Cause.squash(exit.cause))
      })
    })
  }
}

const noop = (): void => {}

/** A promise that never settles: what a cancelled batch's work waits on. */
const never = <A>(): Promise<A> => new Promise<A>(noop)

/**
 * Runs `f` over `items` with `workers` promise loops that each take the
 * next item in turn: results in item order, at most `workers` at once,
 * rejecting with the first failure (the caller then cancels the batch to
 * stop the others).
 *
 * @internal
 */
export const pool = async <T, A>(
  items: ReadonlyArray<T>,
  workers: number,
  f: (item: T) => Promise<A>
): Promise<Array<A>> => {
  const out: Array<A> = new Array(items.length)
  let next = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const k = next++
      try {
        out[k] = await f(items[k]!)
      } catch (e) {
        failed = true
        throw e
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(workers, items.length)) }, worker))
  return out
}
