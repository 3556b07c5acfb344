import * as NodeContext from "@effect/platform-node/NodeContext"
import { Run } from "@zpd/cli"
import { type Curriculum, Part } from "@zpd/core"
import type { Regimes } from "@zpd/gpu-runtime"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type ExampleOptions, runOne } from "../examples/lib/run.ts"
import { standardSuite } from "../examples/lib/tasks.ts"

/** The original suite (regime v1): fixed data, for tests that need problems without a run. */
export const suite = standardSuite()

export const args = (overrides: Partial<Run.RunArgs>): Run.RunArgs => ({
  ...Run.defaultArgs(20),
  quiet: true,
  ...overrides
})

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `zpd-${prefix}-`))

export const run = <E, R>(options: ExampleOptions<E, R>, overrides: Partial<Run.RunArgs>) =>
  Effect.runPromise(
    runOne(options, args(overrides)).pipe(Effect.provide(NodeContext.layer)) as Effect.Effect<
      Awaited<ReturnType<typeof Effect.runPromise<unknown, unknown>>>,
      unknown,
      never
    >
  )

/** The step records of one run of `plugin` in `regime` (standard pipeline). */
export const runRecords = (plugin: Curriculum.Plugin, seed: number, steps: number, regime: Regimes.Name = "default") =>
  Effect.runPromise(
    runOne({ name: plugin.name, plugin, regime }, args({ steps, seed })).pipe(
      Effect.map((r) => r.report.records),
      Effect.provide(NodeContext.layer)
    )
  )

export const mean = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0) / xs.length

/**
 * `execFileSync`'s contract (resolves to stdout; rejects with stderr on a
 * non-zero exit) without blocking this test worker's event loop: a long
 * synchronous child starves vitest's RPC ("Timeout calling onTaskUpdate").
 */
export const execFileAsync = (file: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(file, [...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout)
      else reject(new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${stderr}`))
    })
  )

/** `spawnSync`'s contract (exit status, stdout, stderr) without blocking this test worker's event loop. */
export const spawnAsync = (
  file: string,
  args: ReadonlyArray<string>
): Promise<{ readonly status: number; readonly stdout: string; readonly stderr: string }> =>
  new Promise((resolve) =>
    execFile(
      file,
      [...args],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    )
  )

/** Uniform draws (with replacement) that hand every observed group to `seen`. */
export const recordingSampler = (seen: (group: Curriculum.GroupOutcome) => void) =>
  Part.sampler({
    name: "recording",
    state: Schema.Struct({}),
    build: () => ({
      initial: {},
      select: (_, pool, { batchSize, rng }) =>
        Array.from({ length: batchSize }, () => pool.indices[rng.int(pool.indices.length)]!),
      observe: (_, { groups }) => {
        for (const g of groups) seen(g)
      }
    })
  })
