/**
 * Stages: typed, named, pipeable steps of a training step. A stage reads the
 * fields it declares from the step context and adds new ones. Composition
 * tracks both at the type level, so a pipeline that computes advantages before
 * any rollout exists does not compile:
 *
 * ```ts
 * Stages.selectBatch.pipe(
 *   Stage.andThen(Stages.advantages())   // error: "missing stage input": "scored"
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@zpd/core/Stage")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A step of the training loop that needs `In` and adds `Out`.
 *
 * `In` is contravariant: a stage that needs less can stand where more is
 * available.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stage<in In, out Out, out E = never, out R = never> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  /** Names of the stages composed into this one, in run order. */
  readonly names: ReadonlyArray<string>
  readonly run: (input: In) => Effect.Effect<Out, E, R>
}

/**
 * The fields a stage needs.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Input<S> = S extends Stage<infer In, infer _Out, infer _E, infer _R> ? In : never

/**
 * The fields a stage adds.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Output<S> = S extends Stage<infer _In, infer Out, infer _E, infer _R> ? Out : never

/**
 * Resolves to `unknown` when `Have` provides every field of `Need`, and to an
 * object naming the missing fields otherwise. Intersected with a stage
 * parameter it turns a missing input into a readable compile error.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Requires<Have, Need> = [Have] extends [Need] ? unknown
  : { readonly "missing stage input": Exclude<keyof Need, keyof Have> }

const proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

/**
 * Builds a stage from a name and a function from its inputs to the fields it
 * adds.
 *
 * **Example**
 * ```ts
 * const passRate = Stage.make("passRate", (ctx: { readonly scored: ReadonlyArray<ScoredGroup> }) =>
 *   Effect.succeed({ passRate: ctx.scored.map((g) => g.passRate) }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Name extends string, In, Out, E = never, R = never>(
  name: Name,
  run: (input: In) => Effect.Effect<Out, E, R>
): Stage<In, Out, E, R> => {
  const self = Object.create(proto)
  self.name = name
  self.names = [name]
  self.run = run
  return self
}

/**
 * A stage that adds nothing; the identity of {@link andThen}. Useful as the
 * start of a pipeline built in a loop.
 *
 * @since 0.1.0
 * @category constructors
 */
export const identity = <In>(): Stage<In, {}> => make("identity", () => Effect.succeed({}))

/**
 * Runs `self`, then `that` on the context extended with `self`'s output. Fails
 * to compile unless `self`'s input plus output provide everything `that` needs.
 *
 * @since 0.1.0
 * @category combinators
 */
export const andThen: {
  <In2, Out2, E2, R2>(
    that: Stage<In2, Out2, E2, R2>
  ): <In, Out, E, R>(
    self: Stage<In, Out, E, R> & Requires<In & Out, In2>
  ) => Stage<In, Out & Out2, E | E2, R | R2>
  <In, Out, E, R, In2, Out2, E2, R2>(
    self: Stage<In, Out, E, R> & Requires<In & Out, In2>,
    that: Stage<In2, Out2, E2, R2>
  ): Stage<In, Out & Out2, E | E2, R | R2>
} = dual(2, <In, Out, E, R, In2, Out2, E2, R2>(
  self: Stage<In, Out, E, R>,
  that: Stage<In2, Out2, E2, R2>
): Stage<In, Out & Out2, E | E2, R | R2> => {
  const composed = make(`${self.name} > ${that.name}`, (input: In) =>
    Effect.flatMap(self.run(input), (out) => {
      const ctx = { ...input, ...out } as unknown as In2
      return Effect.map(that.run(ctx), (out2) => ({ ...out, ...out2 }) as Out & Out2)
    }))
  ;(composed as { names: ReadonlyArray<string> }).names = [...self.names, ...that.names]
  return composed
})

/**
 * Replaces a stage's behaviour while keeping its name, e.g. to wrap it in a
 * span or a timeout.
 *
 * @since 0.1.0
 * @category combinators
 */
export const mapEffect: {
  <In, Out, E, R, Out2, E2, R2>(
    f: (effect: Effect.Effect<Out, E, R>, input: In) => Effect.Effect<Out2, E2, R2>
  ): (self: Stage<In, Out, E, R>) => Stage<In, Out2, E2, R2>
  <In, Out, E, R, Out2, E2, R2>(
    self: Stage<In, Out, E, R>,
    f: (effect: Effect.Effect<Out, E, R>, input: In) => Effect.Effect<Out2, E2, R2>
  ): Stage<In, Out2, E2, R2>
} = dual(2, <In, Out, E, R, Out2, E2, R2>(
  self: Stage<In, Out, E, R>,
  f: (effect: Effect.Effect<Out, E, R>, input: In) => Effect.Effect<Out2, E2, R2>
): Stage<In, Out2, E2, R2> => {
  const next = make(self.name, (input: In) => f(self.run(input), input))
  ;(next as { names: ReadonlyArray<string> }).names = self.names
  return next
})

/**
 * Wraps every run of the stage in a tracing span named `zpd.stage.<name>`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withSpan = <In, Out, E, R>(self: Stage<In, Out, E, R>): Stage<In, Out, E, R> =>
  mapEffect(self, (effect) => Effect.withSpan(effect, `zpd.stage.${self.name}`))

/**
 * @since 0.1.0
 * @category refinements
 */
export const isStage = (u: unknown): u is Stage<unknown, unknown, unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u
