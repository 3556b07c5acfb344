/**
 * The benchmark runner: runs jobs (one run directory each) in parallel child
 * processes, `concurrency` at a time, with a live display (see
 * {@link Progress}). Resumable: a job whose directory is complete
 * ({@link RunData.status}) is skipped, one with a checkpoint is resumed, any
 * other starts from an empty directory. A failed job does not stop the
 * others; the result lists it with the tail of its stderr.
 *
 * Child processes speak a one-line protocol on stdout: `@progress <step>`
 * after every step; anything else is ignored. What the child runs is the
 * caller's `command`, so this module knows nothing about curricula or tsx,
 * and stays runtime-agnostic (`@effect/platform` Command and FileSystem).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Progress from "./Progress.ts"
import * as RunData from "./RunData.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Job {
  /** Shown in the progress display. */
  readonly label: string
  readonly dir: string
  readonly steps: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<J extends Job> {
  readonly jobs: ReadonlyArray<J>
  readonly concurrency: number
  /** The child process for a job; `resume` = continue from the checkpoint in `job.dir`. */
  readonly command: (job: J, resume: boolean) => Command.Command
  /** Receives the display lines about once a second and once at the end (`final`). */
  readonly display?: (lines: ReadonlyArray<string>, final: boolean) => void
  /** Display refresh period (default 1 s). */
  readonly refresh?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Result<J extends Job> {
  readonly ran: ReadonlyArray<J>
  readonly skipped: ReadonlyArray<J>
  readonly failed: ReadonlyArray<{ readonly job: J; readonly reason: string }>
  readonly wallMs: number
}

const runChild = <J extends Job>(
  job: J,
  resume: boolean,
  command: Command.Command,
  entry: Progress.Running
): Effect.Effect<string | undefined, never, CommandExecutor.CommandExecutor> =>
  Effect.scoped(Effect.gen(function*() {
    const proc = yield* Command.start(command)
    let stderr = ""
    const out = proc.stdout.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) =>
        Effect.sync(() => {
          const m = /^@progress (\d+)$/.exec(line.trim())
          if (m !== null) entry.step = Number(m[1])
        })
      )
    )
    const err = proc.stderr.pipe(
      Stream.decodeText(),
      Stream.runForEach((chunk) => Effect.sync(() => (stderr = (stderr + chunk).slice(-4000))))
    )
    yield* Effect.all([out, err], { concurrency: 2, discard: true })
    const code = yield* proc.exitCode
    if (code === 0 && entry.step >= job.steps) return undefined
    const tail = stderr.trim().split("\n").slice(-6).join("\n")
    return `exit code ${code}${resume ? " (resumed)" : ""} at step ${entry.step}/${job.steps}${tail.length > 0 ? `:\n${tail}` : ""}`
  })).pipe(Effect.catchAll((e) => Effect.succeed(`could not run: ${e.message}`)))

/**
 * Runs every job not yet complete.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <J extends Job>(
  options: Options<J>
): Effect.Effect<Result<J>, never, CommandExecutor.CommandExecutor | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const plan: Array<{ readonly job: J; readonly status: "complete" | "resume" | "fresh"; readonly from: number }> = []
    for (const job of options.jobs) {
      const status = yield* RunData.status(job.dir, job.steps)
      const from = status === "resume"
        ? yield* fs.readFileString(`${job.dir}/checkpoint/state.json`).pipe(
          Effect.map((t) => Number((JSON.parse(t) as { step?: unknown }).step) || 0),
          Effect.orElseSucceed(() => 0)
        )
        : 0
      plan.push({ job, status, from })
    }
    const startedMs = yield* Clock.currentTimeMillis
    const state: Progress.State = {
      startedMs,
      totalJobs: plan.length,
      totalSteps: plan.filter((p) => p.status !== "complete").reduce((n, p) => n + p.job.steps - p.from, 0),
      skipped: plan.filter((p) => p.status === "complete").length,
      finished: 0,
      failed: 0,
      finishedSteps: 0,
      running: new Map()
    }
    const show = (final: boolean) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => options.display?.(Progress.render(state, now), final)))
    const ticker = yield* Effect.fork(
      Effect.repeat(show(false), Schedule.spaced(options.refresh ?? Duration.seconds(1)))
    )
    const failed: Array<{ job: J; reason: string }> = []
    const ran: Array<J> = []
    yield* Effect.forEach(
      plan.filter((p) => p.status !== "complete"),
      ({ from, job, status }) =>
        Effect.gen(function*() {
          const resume = status === "resume"
          if (!resume) yield* fs.remove(job.dir, { recursive: true }).pipe(Effect.ignore)
          yield* fs.makeDirectory(job.dir, { recursive: true }).pipe(Effect.ignore)
          const entry: Progress.Running = {
            label: job.label,
            steps: job.steps,
            from,
            step: from,
            startedMs: yield* Clock.currentTimeMillis
          }
          const key = `${job.dir}`
          state.running.set(key, entry)
          const failure = yield* runChild(job, resume, options.command(job, resume), entry)
          state.running.delete(key)
          state.finishedSteps += Math.max(0, entry.step - from)
          if (failure === undefined) {
            state.finished++
            ran.push(job)
          } else {
            state.failed++
            failed.push({ job, reason: failure })
          }
        }),
      { concurrency: Math.max(1, options.concurrency), discard: true }
    )
    yield* Fiber.interrupt(ticker)
    yield* show(true)
    return {
      ran,
      skipped: plan.filter((p) => p.status === "complete").map((p) => p.job),
      failed,
      wallMs: (yield* Clock.currentTimeMillis) - startedMs
    }
  })
