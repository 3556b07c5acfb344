import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import { describe, expect, it } from "vitest"
import * as Batch from "../src/internal/batch.ts"
import type { FetchAttempt, Settled } from "../src/internal/http.ts"

/** Lets every queued promise continuation run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

/** A fetch attempt that waits until the test answers it, recording aborts. */
const scripted = () => {
  const pending: Array<{ url: string; answer: (s: Settled) => void; signal: AbortSignal }> = []
  const attempt: FetchAttempt = (_method, url, _body, signal) =>
    new Promise((answer) => {
      pending.push({ url, answer, signal })
    })
  return { attempt, pending }
}

const ok = (json: unknown): Settled => ({ ok: true, json })
const long = Duration.minutes(10)

describe("Permits (FIFO, one waiter woken per release)", () => {
  it("grants at most `size`, wakes waiters in arrival order, skips a cancelled waiter and loses no permit", () => {
    const permits = new Batch.Permits(2)
    const woken: Array<number> = []
    expect(permits.take(() => woken.push(0))).toBeUndefined()
    expect(permits.take(() => woken.push(1))).toBeUndefined()
    const w2 = permits.take(() => woken.push(2))
    const w3 = permits.take(() => woken.push(3))
    const w4 = permits.take(() => woken.push(4))
    expect([w2, w3, w4].every((w) => w !== undefined)).toBe(true)
    permits.cancel(w3!)
    permits.give() // to 2
    permits.give() // 3 is cancelled: to 4
    expect(woken).toEqual([2, 4])
    permits.give()
    permits.give()
    // both permits are free again, and no more
    expect(permits.take(() => {})).toBeUndefined()
    expect(permits.take(() => {})).toBeUndefined()
    expect(permits.take(() => {})).not.toBeUndefined()
  })
})

describe("Batch (the promise-based hot path of one call)", () => {
  it("pool keeps item order, runs at most `workers` at once, and rejects with the first failure", async () => {
    let running = 0
    let most = 0
    const out = await Batch.pool(Array.from({ length: 50 }, (_, i) => i), 4, async (i) => {
      running++
      most = Math.max(most, running)
      await settle()
      running--
      return i * 2
    })
    expect(out).toEqual(Array.from({ length: 50 }, (_, i) => i * 2))
    expect(most).toBe(4)
    let started = 0
    const failed = Batch.pool(Array.from({ length: 50 }, (_, i) => i), 2, async (i) => {
      started++
      await settle()
      if (i === 3) throw new Error("boom")
    })
    await expect(failed).rejects.toThrow("boom")
    expect(started).toBeLessThan(50)
  })

  it("withPermit bounds the requests in flight over two batches sharing the permits", async () => {
    const permits = new Batch.Permits(3)
    const a = new Batch.Batch(permits)
    const b = new Batch.Batch(permits)
    const { attempt, pending } = scripted()
    const send = (batch: Batch.Batch, k: number) =>
      batch.withPermit(() => batch.attempt(attempt, "POST", `u${k}`, "{}", long))
    const all = [0, 1, 2, 3, 4, 5].map((k) => send(k % 2 === 0 ? a : b, k))
    await settle()
    expect(pending.map((p) => p.url)).toEqual(["u0", "u1", "u2"])
    pending[1]!.answer(ok(1))
    await settle()
    expect(pending.map((p) => p.url)).toEqual(["u0", "u1", "u2", "u3"])
    for (let k = 0; k < 6; k++) {
      pending[k]?.answer(ok(k))
      await settle()
    }
    const settled = await Promise.all(all)
    expect(settled.map((s) => s.ok && s.json)).toEqual([0, 1, 2, 3, 4, 5])
  })

  it("cancel aborts the fetches in flight, leaves the permit queue and gives every permit back", async () => {
    const permits = new Batch.Permits(2)
    const batch = new Batch.Batch(permits)
    const { attempt, pending } = scripted()
    let settledCount = 0
    let done = 0
    for (let k = 0; k < 5; k++) {
      void batch.withPermit(() => batch.attempt(attempt, "POST", `u${k}`, "{}", long, () => done++)).then(() =>
        settledCount++
      )
    }
    await settle()
    expect(pending).toHaveLength(2)
    batch.cancel()
    await settle()
    expect(pending.every((p) => p.signal.aborted)).toBe(true)
    expect(pending).toHaveLength(2) // the queued requests never started
    expect(settledCount).toBe(0)
    expect(done).toBe(2) // each started attempt's `done` ran once (the client decrements its in-flight count there)
    // both permits came back: a fresh batch runs two requests at once
    const next = new Batch.Batch(permits)
    const more = scripted()
    void next.withPermit(() => next.attempt(more.attempt, "POST", "v0", "{}", long))
    void next.withPermit(() => next.attempt(more.attempt, "POST", "v1", "{}", long))
    await settle()
    expect(more.pending.map((p) => p.url)).toEqual(["v0", "v1"])
  })

  it("an attempt past its deadline is aborted and settles with a Timeout failure", async () => {
    const batch = new Batch.Batch(new Batch.Permits(1))
    const { attempt, pending } = scripted()
    const outcome = await batch.attempt(attempt, "POST", "u", "{}", Duration.millis(5))
    expect(outcome.ok).toBe(false)
    expect(!outcome.ok && outcome.failure.reason).toBe("Timeout")
    expect(!outcome.ok && outcome.failure.description).toContain("no complete reply within")
    expect(pending[0]!.signal.aborted).toBe(true)
  })

  it("run resolves with the fiber's value, rejects with its failure, and cancel interrupts it", async () => {
    const runtime = Runtime.defaultRuntime
    const batch = new Batch.Batch(new Batch.Permits(1))
    await expect(batch.run(runtime, Effect.succeed(7))).resolves.toBe(7)
    await expect(batch.run(runtime, Effect.fail(new Error("refused")))).rejects.toThrow("refused")
    let interrupted = false
    void batch.run(runtime, Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (interrupted = true)))))
    await settle()
    batch.cancel()
    await settle()
    expect(interrupted).toBe(true)
  })
})
