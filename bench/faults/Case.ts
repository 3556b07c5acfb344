/**
 * The fault campaign's vocabulary: a case runs something that should fail (or
 * should succeed despite looking odd) and is classified as
 *
 * - `clean`: it failed with a message naming what was wrong and what was
 *   expected (every expected pattern found, no stack trace); or, for a case
 *   that should succeed, it succeeded and its check held;
 * - `unclear`: it failed, but the message misses what the case expects (or a
 *   case that should succeed failed);
 * - `silent`: it exited 0 although it should have failed;
 * - `hang`: it ran past its timeout.
 *
 * Cases in other files (runtime.ts, written with the HTTP clients) use the same
 * types and helpers.
 */
import { spawn } from "node:child_process"
import { existsSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"

export type Outcome = "clean" | "unclear" | "silent" | "hang"

export interface Result {
  readonly outcome: Outcome
  readonly detail: string
}

export interface Context {
  /** A fresh temporary directory for this case. */
  readonly dir: string
  readonly timeoutMs: number
}

export interface FaultCase {
  readonly group: string
  readonly name: string
  readonly run: (context: Context) => Promise<Result>
}

export interface Exit {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
  readonly timedOut: boolean
  readonly ms: number
}

const root = join(import.meta.dirname, "..", "..")

export interface SpawnOptions {
  readonly timeoutMs: number
  /** Kill the process (SIGKILL) once it has written this file up to this many lines. */
  readonly killAt?: { readonly file: string; readonly lines: number }
}

/** Runs a TypeScript entry point of this repository (`packages/cli/src/main.ts` for `zpd`) under Node + tsx. */
export const runTs = (entry: string, args: ReadonlyArray<string>, options: SpawnOptions): Promise<Exit> =>
  new Promise((resolve) => {
    const start = Date.now()
    const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" }
    })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, options.timeoutMs)
    const poll = options.killAt === undefined ? undefined : setInterval(() => {
      const { file, lines } = options.killAt!
      // Only this process's writes count: a file left by an earlier run has an older mtime.
      if (
        existsSync(file) && statSync(file).mtimeMs >= start &&
        readFileSync(file, "utf8").split("\n").filter(Boolean).length >= lines
      ) {
        child.kill("SIGKILL")
      }
    }, 20)
    child.on("close", (status) => {
      clearTimeout(timer)
      if (poll !== undefined) clearInterval(poll)
      resolve({ status, stdout, stderr, timedOut, ms: Date.now() - start })
    })
  })

/** `zpd …` as a child process. */
export const zpd = (args: ReadonlyArray<string>, options: SpawnOptions) =>
  runTs("packages/cli/src/main.ts", args, options)

const firstLine = (exit: Exit) =>
  (exit.stderr.trim() || exit.stdout.trim()).split("\n").filter((l) => l.trim().length > 0).slice(-1)[0]?.slice(
    0,
    160
  ) ??
    ""

/** Classifies a run that should fail with a message matching every pattern. */
export const expectError = (exit: Exit, patterns: ReadonlyArray<RegExp | string>): Result => {
  if (exit.timedOut) return { outcome: "hang", detail: `no exit within the timeout (${exit.ms} ms)` }
  if (exit.status === 0) return { outcome: "silent", detail: `exit 0: ${firstLine(exit)}` }
  const text = exit.stderr + exit.stdout
  if (/\n\s+at .+:\d+:\d+/.test(text)) return { outcome: "unclear", detail: `stack trace: ${firstLine(exit)}` }
  const missing = patterns.filter((p) => (typeof p === "string" ? !text.includes(p) : !p.test(text)))
  return missing.length === 0
    ? { outcome: "clean", detail: firstLine(exit) }
    : { outcome: "unclear", detail: `missing ${missing.map(String).join(", ")} in: ${firstLine(exit)}` }
}

/** Classifies a run that should succeed and pass `check` (which returns a problem, or undefined). */
export const expectOk = (exit: Exit, check: () => string | undefined = () => undefined): Result => {
  if (exit.timedOut) return { outcome: "hang", detail: `no exit within the timeout (${exit.ms} ms)` }
  if (exit.status !== 0) return { outcome: "unclear", detail: `refused a valid case: ${firstLine(exit)}` }
  const problem = check()
  return problem === undefined
    ? { outcome: "clean", detail: "ran as expected" }
    : { outcome: "unclear", detail: problem }
}
