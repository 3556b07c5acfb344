import * as NodeContext from "@effect/platform-node/NodeContext"
import type { Curriculum } from "@zpd/core"
import { Run } from "@zpd/cli"
import * as Effect from "effect/Effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type ExampleOptions, runOne } from "../examples/lib/run.ts"
import { standardSuite } from "../examples/lib/tasks.ts"

export const suite = standardSuite()

export const args = (overrides: Partial<Run.RunArgs>): Run.RunArgs => ({
  ...Run.defaultArgs(20),
  quiet: true,
  ...overrides
})

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `zpd-${prefix}-`))

export const run = <E, R>(options: ExampleOptions<E, R>, overrides: Partial<Run.RunArgs>) =>
  Effect.runPromise(
    runOne(options, args(overrides), suite).pipe(Effect.provide(NodeContext.layer)) as Effect.Effect<
      Awaited<ReturnType<typeof Effect.runPromise<unknown, unknown>>>,
      unknown,
      never
    >
  )

/** The step records of one run of `plugin` on the example suite (standard pipeline). */
export const runRecords = (plugin: Curriculum.Plugin, seed: number, steps: number) =>
  Effect.runPromise(
    runOne({ name: plugin.name, plugin }, args({ steps, seed }), suite).pipe(
      Effect.map((r) => r.report.records),
      Effect.provide(NodeContext.layer)
    )
  )

export const mean = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0) / xs.length
