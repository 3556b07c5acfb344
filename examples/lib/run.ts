/**
 * What the examples share: the `zpd run` flags (`--steps N --seed S --out DIR
 * --resume DIR --data FILE.jsonl …`, see `--help`), the simulated learner,
 * the run directory, the progress line and the summary table. It all lives
 * in @zpd/cli; an example only says which curriculum it runs.
 */
import type * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeContextLayer from "@effect/platform-node/NodeContext"
import { Command, Curricula, Run } from "@zpd/cli"
import * as Effect from "effect/Effect"
import process from "node:process"

export const verifier = Curricula.verifier
export const { runOne, summaryTable } = Run
export type ExampleOptions<E, R> = Run.RunSpec<E, R> & { readonly steps?: number; readonly description?: string }

/** The whole CLI of a single-curriculum example: the `zpd run` flags, a run, its table. */
export const runExample = <E, R extends Curricula.Services>(options: ExampleOptions<E, R>): void =>
  Command.main(
    Command.example(
      options.name,
      options.steps ?? 100,
      options.description ?? `Train with ${options.name} on the simulated learner (the flags of \`zpd run\`).`,
      // The simulated learner provides every service R may ask for (R extends Curricula.Services).
      (args) => Command.runAndReport(options, args) as Effect.Effect<void, unknown, NodeContext.NodeContext>
    ),
    options.name
  )

/** Runs `program` with the Node/Deno platform layer; prints errors without a stack and exits 1 (the bench scripts use it). */
export const main = <A, E>(program: Effect.Effect<A, E, NodeContext.NodeContext>): void => {
  Effect.runPromiseExit(Effect.provide(program, NodeContextLayer.layer)).then((exit) => {
    if (exit._tag === "Failure") {
      const failure = exit.cause._tag === "Fail" ? (exit.cause.error as { message?: string }) : undefined
      process.stderr.write(`error: ${failure?.message ?? String(exit.cause)}\n`)
      process.exitCode = 1
    }
  })
}
