import { it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { describe, expect } from "vitest"
import * as Http from "../src/internal/http.ts"

const policy = Http.retryPolicy({ backoff: "100 millis", maxBackoff: "2 seconds", retries: 4, cooldown: "1 second" }, {
  timeout: "10 seconds",
  retries: 4
})
const transient: Http.Failure = { retryable: true, reason: "Unavailable", description: "connection failed" }

/** An attempt that fails with `failures[k]` on call k, then succeeds with the endpoint's URL. */
const scripted = (failures: ReadonlyArray<Http.Failure>) => {
  const calls: Array<string> = []
  const attempt = (ep: Http.Endpoint) =>
    Effect.suspend(() => {
      const k = calls.length
      calls.push(ep.url)
      return k < failures.length ? Effect.fail(failures[k]!) : Effect.succeed(ep.url)
    })
  return { calls, attempt }
}

describe("withRetries (Effect.retry over a Schedule)", () => {
  it.effect("waits the server's Retry-After, not the exponential backoff", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted([{ ...transient, retryAfterMs: 1500 }])
      const fiber = yield* Effect.fork(Http.withRetries(new Http.Balancer(["http://a"], 0), policy, "/x", attempt))
      yield* TestClock.adjust("1499 millis")
      expect(calls).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("http://a")
      expect(calls).toHaveLength(2)
    }))

  it.effect("caps Retry-After at maxBackoff", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted([{ ...transient, retryAfterMs: 60_000 }])
      const fiber = yield* Effect.fork(Http.withRetries(new Http.Balancer(["http://a"], 0), policy, "/x", attempt))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
      expect(calls).toHaveLength(2)
    }))

  it.effect("backs off exponentially with jitter between 0.8x and 1.2x", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      const attempt = () =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          times.push(now)
          return times.length <= 3 ? Effect.fail(transient) : Effect.succeed("ok")
        })
      const fiber = yield* Effect.fork(Http.withRetries(new Http.Balancer(["http://a"], 0), policy, "/x", attempt))
      for (let t = 0; t < 200; t++) yield* TestClock.adjust("5 millis")
      yield* Fiber.join(fiber)
      const gaps = times.slice(1).map((t, k) => t - times[k]!)
      expect(gaps).toHaveLength(3)
      // 100, 200, 400 ms, each within ±20% (the test clock moves in 5 ms steps)
      gaps.forEach((gap, k) => {
        expect(gap).toBeGreaterThanOrEqual(100 * 2 ** k * 0.8)
        expect(gap).toBeLessThanOrEqual(100 * 2 ** k * 1.2 + 5)
      })
    }))

  it.effect("moves to the next endpoint after a failure (the balancer is kept)", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted([transient])
      const balancer = new Http.Balancer(["http://a", "http://b"], 1000)
      const fiber = yield* Effect.fork(Http.withRetries(balancer, policy, "/x", attempt))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("http://b")
      expect(calls).toEqual(["http://a", "http://b"])
      expect(balancer.endpoints.map((e) => e.inFlight)).toEqual([0, 0])
    }))

  it.effect("stops at once on a non-retryable failure, naming the endpoint", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted([{ retryable: false, reason: "Refused", description: "HTTP 400: bad" }])
      const e = yield* Effect.flip(Http.withRetries(new Http.Balancer(["http://a"], 0), policy, "/x", attempt))
      expect(calls).toHaveLength(1)
      expect(e.endpoint).toBe("http://a/x")
      expect(e.message).toContain("HTTP 400: bad")
      expect(e.message).not.toContain("gave up")
    }))

  it.effect("gives up after retries + 1 attempts, listing each", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted(Array.from({ length: 10 }, () => transient))
      const fiber = yield* Effect.fork(Http.withRetries(new Http.Balancer(["http://a"], 0), policy, "/x", attempt))
      yield* TestClock.adjust("1 minute")
      const e = yield* Effect.flip(Fiber.join(fiber))
      expect(calls).toHaveLength(5)
      expect(e.message).toContain("gave up after 5 attempts")
      expect(e.message.split("connection failed")).toHaveLength(6)
    }))

  it.effect("retries timeouts at most timeoutRetries times", () =>
    Effect.gen(function*() {
      const timeout: Http.Failure = { retryable: true, reason: "Timeout", description: "no complete reply within 10s" }
      const { attempt, calls } = scripted(Array.from({ length: 10 }, () => timeout))
      const fiber = yield* Effect.fork(Http.withRetries(new Http.Balancer(["http://a"], 0), policy, "/x", attempt))
      yield* TestClock.adjust("1 minute")
      const e = yield* Effect.flip(Fiber.join(fiber))
      expect(calls).toHaveLength(2)
      expect(e.reason).toBe("Timeout")
    }))

  it.effect("reports a server whose process has exited at once instead of retrying", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted(Array.from({ length: 10 }, () => transient))
      let exited = false
      const serverExited = Effect.sync(() =>
        exited ? Option.some("the worker (pid 7) exited with code 1") : Option.none()
      )
      const fiber = yield* Effect.fork(
        Http.withRetries(new Http.Balancer(["http://a"], 0), policy, "/x", attempt, serverExited)
      )
      yield* TestClock.adjust("150 millis")
      expect(calls).toHaveLength(2)
      exited = true
      yield* TestClock.adjust("1 second")
      const e = yield* Effect.flip(Fiber.join(fiber))
      expect(calls).toHaveLength(3)
      expect(e.reason).toBe("Unavailable")
      expect(e.message).toContain("exited with code 1")
    }))
})
