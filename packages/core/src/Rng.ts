/**
 * Seeded randomness. zpd derives a fresh random stream for every
 * (seed, step, purpose) triple instead of threading one generator through the
 * run. A resumed run therefore reproduces the uninterrupted run's draws without
 * checkpointing generator state, and two stages never perturb each other's
 * draws. The generator is Effect's own PCG (`effect/Utils`), which is also what
 * `Random.make` uses, so results match under Node and Deno.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import { PCGRandom } from "effect/Utils"
import * as Fmath from "./Fmath.ts"

/**
 * 32-bit FNV-1a hash of a string.
 *
 * @since 0.1.0
 * @category hashing
 */
export const hashString = (label: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * murmur3's 32-bit finaliser: a bijective scrambler of 32-bit integers.
 *
 * @since 0.1.0
 * @category hashing
 */
export const mix32 = (x: number): number => {
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x >>> 0
}

/**
 * A 32-bit seed for the stream `label` at `step` of a run seeded with `seed`
 * (any safe integer; seeds that differ only above bit 32 still differ).
 *
 * @since 0.1.0
 * @category constructors
 */
export const deriveSeed = (seed: number, step: number, label: string): number => {
  const folded = (seed >>> 0) ^ mix32(Math.floor(seed / 4294967296) >>> 0)
  return mix32(mix32(mix32(folded) ^ Math.imul(step + 1, 0x9e3779b1)) ^ hashString(label))
}

/**
 * A synchronous seeded generator for hot loops (shuffling millions of
 * indices, Monte-Carlo sampling in the simulator).
 *
 * @since 0.1.0
 * @category models
 */
export class Rng {
  private readonly pcg: PCGRandom
  constructor(seed: number) {
    this.pcg = new PCGRandom(0, seed >>> 0)
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.pcg.number()
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.pcg.number() * n)
  }
  /** Standard normal (Marsaglia's polar method; only deterministic arithmetic). */
  normal(): number {
    for (;;) {
      const u = 2 * this.pcg.number() - 1
      const v = 2 * this.pcg.number() - 1
      const s = u * u + v * v
      if (s > 0 && s < 1) return u * Math.sqrt((-2 * Fmath.log(s)) / s)
    }
  }
  /** In-place Fisher–Yates shuffle. */
  shuffle<A extends { length: number; [i: number]: number }>(xs: A): A {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = xs[i]!
      xs[i] = xs[j]!
      xs[j] = t
    }
    return xs
  }
  /** A uniform random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n)
    for (let i = 0; i < n; i++) out[i] = i
    return this.shuffle(out)
  }
}

/**
 * The generator for stream `label` at `step`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (seed: number, step: number, label: string): Rng => new Rng(deriveSeed(seed, step, label))

/**
 * Runs `effect` with Effect's `Random` service seeded for (seed, step, label),
 * so custom stages can use `Random.next` and stay reproducible.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withStepRandom =
  (seed: number, step: number, label: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withRandom(effect, Random.make(deriveSeed(seed, step, label)))
