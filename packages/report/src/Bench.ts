/**
 * The benchmark runner: runs jobs (one run directory each) in a pool of
 * `concurrency` long-lived child processes (workers), with a live display
 * (see {@link Progress}). A worker takes one job after another, so the cost of
 * starting a process is paid once per worker, not per run. Resumable: a job
 * whose directory is complete ({@link RunData.status}) is skipped, one with a
 * checkpoint is resumed, any other starts from an empty directory. A failed
 * job does not stop the others; a worker that dies is replaced, and the
 * result lists the failed jobs with the tail of the worker's stderr.
 *
 * Worker protocol, one line each way: the runner writes the caller's
 * `request(job, resume)` line to the worker's stdin; the worker answers with
 * `@progress <step>` lines, then `@done` or `@failed <reason>`. Anything else
 * on stdout is ignored; closing stdin ends the worker. What a worker runs is
 * the caller's `worker` command, so this module knows nothing about curricula
 * or tsx, and stays runtime-agnostic (`@effect/platform` Command, FileSystem).
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
import * as Queue from "effect/Queue"
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
  /** Starts one worker process. */
  readonly worker: () => Command.Command
  /** The request line for a job (no newline); `resume` = continue from the checkpoint in `job.dir`. */
  readonly request: (job: J, resume: boolean) => string
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

type Message = { readonly _tag: "progress"; readonly step: number } | { readonly _tag: "done" } | {
  readonly _tag: "failed"
  readonly reason: string
} | { readonly _tag: "exit" }

const parseMessage = (line: string): Message | undefined => {
  const text = line.trim()
  const progress = /^@progress (\d+)$/.exec(text)
  if (progress !== null) return { _tag: "progress", step: Number(progress[1]) }
  if (text === "@done") return { _tag: "done" }
  if (text.startsWith("@failed")) return { _tag: "failed", reason: text.slice("@failed".length).trim() }
  return undefined
}

interface Work<J> {
  readonly job: J
  readonly resume: boolean
  readonly entry: Progress.Running
}

/**
 * One worker process: takes jobs from `next` until it returns undefined.
 * Returns the job it was running if the process died (to be reported failed),
 * with the tail of its stderr.
 */
const workerSession = <J extends Job>(
  options: Options<J>,
  next: () => Effect.Effect<Work<J> | undefined>,
  finish: (work: Work<J>, failure: string | undefined) => Effect.Effect<void>
): Effect.Effect<boolean, never, CommandExecutor.CommandExecutor> =>
  Effect.scoped(Effect.gen(function*() {
    const proc = yield* Command.start(options.worker())
    const input = yield* Queue.unbounded<string>()
    const messages = yield* Queue.unbounded<Message>()
    let stderr = ""
    yield* Effect.forkScoped(
      Stream.fromQueue(input).pipe(
        Stream.takeWhile((line) => line.length > 0),
        Stream.encodeText,
        Stream.run(proc.stdin)
      )
    )
    yield* Effect.forkScoped(
      proc.stdout.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.runForEach((line) => {
          const m = parseMessage(line)
          return m === undefined ? Effect.void : Queue.offer(messages, m)
        }),
        Effect.ensuring(Queue.offer(messages, { _tag: "exit" }))
      )
    )
    yield* Effect.forkScoped(
      proc.stderr.pipe(
        Stream.decodeText(),
        Stream.runForEach((chunk) => Effect.sync(() => (stderr = (stderr + chunk).slice(-4000))))
      )
    )
    while (true) {
      const work = yield* next()
      if (work === undefined) {
        yield* Queue.offer(input, "")
        yield* proc.exitCode.pipe(Effect.ignore)
        return false
      }
      yield* Queue.offer(input, options.request(work.job, work.resume) + "\n")
      while (true) {
        const m = yield* Queue.take(messages)
        if (m._tag === "progress") work.entry.step = m.step
        else if (m._tag === "done") {
          const short = work.entry.step < work.job.steps
          yield* finish(work, short ? `worker reported done at step ${work.entry.step}/${work.job.steps}` : undefined)
          break
        } else if (m._tag === "failed") {
          yield* finish(work, m.reason)
          break
        } else {
          const code = yield* proc.exitCode.pipe(Effect.map(String), Effect.orElseSucceed(() => "?"))
          yield* Effect.sleep("50 millis") // let the stderr reader drain
          const tail = stderr.trim().split("\n").slice(-6).join("\n")
          const where = `worker exited (code ${code}) at step ${work.entry.step}/${work.job.steps}`
          yield* finish(work, `${where}${tail.length > 0 ? `:\n${tail}` : ""}`)
          return true
        }
      }
    }
  })).pipe(
    Effect.catchAll((e) => Effect.logError(`bench worker could not start: ${e.message}`).pipe(Effect.as(false)))
  )

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
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => options.display?.(Progress.render(state, now), final)))
    const ticker = yield* Effect.fork(
      Effect.repeat(show(false), Schedule.spaced(options.refresh ?? Duration.seconds(1)))
    )
    const failed: Array<{ job: J; reason: string }> = []
    const ran: Array<J> = []
    const todo = plan.filter((p) =>
      p.status !== "complete"
    )
    let cursor = 0
    const next = (): Effect.Effect<Work<J> | undefined> =>
      Effect.gen(function*() {
        const item = todo[cursor++]
        if (item === undefined) return undefined
        const resume = item.status === "resume"
        if (!resume) yield* fs.remove(item.job.dir, { recursive: true }).pipe(Effect.ignore)
        yield* fs.makeDirectory(item.job.dir, { recursive: true }).pipe(Effect.ignore)
        const entry: Progress.Running = {
          label: item.job.label,
          steps: item.job.steps,
          from: item.from,
          step: item.from,
          startedMs: yield* Clock.currentTimeMillis
        }
        state.running.set(item.job.dir, entry)
        return { job: item.job, resume, entry }
      })
    const finish = (work: Work<J>, failure: string | undefined) =>
      Effect.sync(() => {
        state.running.delete(work.job.dir)
        state.finishedSteps += Math.max(0, work.entry.step - work.entry.from)
        if (failure === undefined) {
          state.finished++
          ran.push(work.job)
        } else {
          state.failed++
          failed.push({ job: work.job, reason: failure })
        }
      })
    // A worker that died is replaced while jobs remain.
    const slot = Effect.iterate(true, {
      while: (again) => again && cursor < todo.length,
      body: () => workerSession(options, next, finish)
    })
    yield* Effect.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, todo.length)) }, () => slot), {
      concurrency: "unbounded",
      discard: true
    })
    for (const item of todo.slice(cursor)) {
      state.failed++
      failed.push({ job: item.job, reason: "no worker process could be started" })
    }
    yield* Fiber.interrupt(ticker)
    yield* show(true)
    return {
      ran,
      skipped: plan.filter((p) => p.status === "complete").map((p) => p.job),
      failed,
      wallMs: (yield* Clock.currentTimeMillis) - startedMs
    }
  })
