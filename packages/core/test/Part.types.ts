/**
 * Compile-time tests of the curriculum algebra. Not run; type-checked by
 * `tsc -p tsconfig.json --noEmit`. Every `@ts-expect-error` must stay an
 * error (tsc reports an unused directive otherwise). The messages quoted in
 * the comments are what tsc prints inside its "not assignable" error.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Part from "../src/Part.ts"
import * as Pipeline from "../src/Pipeline.ts"
import * as Stages from "../src/Stages.ts"

const state = Schema.Struct({})
const empty = { initial: {} }
const gate = Part.gate({ name: "g", state, build: () => ({ ...empty, eligible: (_, pool) => pool }) })
const prefilter = Part.prefilter({
  name: "p",
  state,
  build: () => ({ ...empty, widen: (b) => 2 * b, narrow: (_, xs, { batchSize }) => xs.slice(0, batchSize) })
})
const sampler = Part.sampler({
  name: "s",
  state,
  build: () => ({ ...empty, select: (_, pool, { batchSize }) => Array.from(pool.indices.subarray(0, batchSize)) })
})
const other = Part.sampler({ name: "t", state, build: () => ({ ...empty, select: () => [] }) })
const pipeline = Pipeline.make(
  "x",
  Stages.standard({ verifier: () => ({ reward: 1, correct: true, formatted: true }) })
)
const options = { dataset: { name: "d", problems: [] }, seed: 1, steps: 1, batchSize: 1, groupSize: 1 }

// ---------------------------------------------------------------------------
// Accepted
// ---------------------------------------------------------------------------

export const full = gate.pipe(
  Part.andThen(gate),
  Part.andThen(prefilter),
  Part.andThen(prefilter),
  Part.andThen(sampler)
)
export const runsFull = Pipeline.run(pipeline, full, options)
export const alone = Pipeline.run(pipeline, sampler, options)
export const dataFirst = Part.andThen(gate, Part.andThen(prefilter, sampler))
export const runsDataFirst = Pipeline.run(pipeline, dataFirst, options)
export const identity: string = full.identity

// ---------------------------------------------------------------------------
// Rejected
// ---------------------------------------------------------------------------

// Two samplers in sequence.
// @ts-expect-error "zpd: cannot compose": "a sampler ends a curriculum: nothing may follow it (two samplers in sequence, …)"
export const twoSamplers = sampler.pipe(Part.andThen(other))
// @ts-expect-error the same, data-first
export const twoSamplersDataFirst = Part.andThen(sampler, other)

// A sampler before a gate (or before a pre-filter).
// @ts-expect-error "zpd: cannot compose": "a sampler ends a curriculum: nothing may follow it …"
export const samplerBeforeGate = sampler.pipe(Part.andThen(gate))
// @ts-expect-error "zpd: cannot compose": "a sampler ends a curriculum: nothing may follow it …"
export const samplerBeforePrefilter = Part.andThen(sampler, prefilter)

// A gate after a pre-filter.
// @ts-expect-error "zpd: cannot compose": "a gate must come before every pre-filter and the sampler"
export const gateAfterPrefilter = prefilter.pipe(Part.andThen(gate))
// @ts-expect-error the same through a longer chain
export const gateAfterChain = gate.pipe(Part.andThen(prefilter), Part.andThen(gate.pipe(Part.andThen(sampler))))

// A chain without a sampler is not a curriculum.
// @ts-expect-error "zpd: incomplete curriculum": Property 'build' is missing
export const noSampler = Pipeline.run(pipeline, gate.pipe(Part.andThen(prefilter)), options)
// @ts-expect-error a lone gate is not a curriculum either
export const loneGate = Pipeline.run(pipeline, gate, options)

// A part's select must return indices.
export const badSelect = Part.sampler({
  name: "bad",
  state,
  // @ts-expect-error select returns strings
  build: () => ({ ...empty, select: () => ["a"] })
})

export const _unused = Effect.void
