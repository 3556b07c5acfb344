/**
 * `zpd bench` and `zpd report` (issue 12): the flags `bench:curricula` takes,
 * bad values refused naming the flag before anything runs, and `zpd report`
 * building report.md from a run directory `zpd run` wrote.
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Zpd from "../src/Command.ts"

const bin = fileURLToPath(new URL("../bin/zpd.mjs", import.meta.url))

const zpd = (...args: ReadonlyArray<string>) =>
  Command.run(Zpd.zpd, { name: "zpd", version: "test" })(["node", "zpd", ...args]).pipe(
    Effect.provide(NodeContext.layer),
    Effect.either
  )

describe("zpd bench", () => {
  it("--help lists every flag of bench:curricula", () => {
    const help = spawnSync(process.execPath, [bin, "bench", "--help"], { encoding: "utf8" })
    expect(help.status).toBe(0)
    for (const flag of ["--quick", "--jobs", "--out", "--seeds", "--budgets", "--regimes", "--curricula", "--target"]) {
      expect(help.stdout).toContain(flag)
    }
  }, 60_000)

  it.effect("refuses bad values naming the flag, before any run starts", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[ReadonlyArray<string>, RegExp]> = [
        [["--seeds", "1,x"], /^--seeds: expected integers, got "1,x"/],
        [["--jobs", "0"], /^--jobs: expected an integer ≥ 1/],
        [["--regimes", "default,nope"], /^--regimes: unknown "nope"/],
        [["--curricula", "sec,zzz"], /^--curricula: unknown "zzz"/],
        [["--target", "high"], /^--target: expected a number/]
      ]
      for (const [args, expected] of cases) {
        const result = yield* zpd("bench", "--out", join(tmpdir(), "zpd-never-written"), ...args)
        expect(Either.isLeft(result)).toBe(true)
        if (Either.isLeft(result)) expect((result.left as Error).message).toMatch(expected)
      }
      expect(existsSync(join(tmpdir(), "zpd-never-written"))).toBe(false)
    }))
})

describe("zpd report", () => {
  it.effect("builds report.md and report.html from a run directory", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "zpd-report-"))
      const ran = yield* zpd(
        "run",
        "random",
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--group-size",
        "2",
        "--quiet",
        "--out",
        join(dir, "random")
      )
      expect(Either.isRight(ran)).toBe(true)
      const out = join(dir, "report")
      const built = yield* zpd("report", dir, "--out", out, "--title", "tiny run")
      expect(Either.isRight(built)).toBe(true)
      const markdown = readFileSync(join(out, "report.md"), "utf8")
      expect(markdown).toContain("tiny run")
      expect(markdown).toMatch(/\| random \|/)
      expect(readFileSync(join(out, "report.html"), "utf8")).toContain("<svg")
    }), 120_000)

  it.effect("requires at least one RUN_DIR", () =>
    Effect.gen(function*() {
      const result = yield* zpd("report")
      expect(Either.isLeft(result)).toBe(true)
    }))
})
