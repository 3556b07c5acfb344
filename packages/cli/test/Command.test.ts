/**
 * The `zpd` command: flags parse into RunArgs, bad input fails naming the flag
 * (issue "Trust": `--out=` empty, repeated flags, `--out` at a file, unknown
 * flags, bad numbers), and `zpd run` trains and writes its run directory.
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Zpd from "../src/Command.ts"
import * as Curricula from "../src/Curricula.ts"

const temp = () => mkdtempSync(join(tmpdir(), "zpd-cli-"))

/** Runs `zpd <args>` in-process (the platform layer as `main` gives it), without the console noise of help. */
const zpd = (...args: ReadonlyArray<string>) =>
  Command.run(Zpd.zpd, { name: "zpd", version: "test" })(["node", "zpd", ...args]).pipe(
    Effect.provide(NodeContext.layer),
    Effect.either
  )

const fast = ["--batch-size", "4", "--group-size", "2", "--quiet"]

describe("precheck", () => {
  it("refuses a flag given twice, with either spelling", () => {
    expect(Zpd.precheck(["run", "sec", "--steps", "5", "--steps", "6"])).toMatch(/^--steps: given more than once/)
    expect(Zpd.precheck(["run", "sec", "--steps=5", "--steps", "6"])).toMatch(/^--steps: given more than once/)
    expect(Zpd.precheck(["run", "sec", "--out", "a", "--out", "b"])).toMatch(/^--out: given more than once/)
    expect(Zpd.precheck(["run", "sec", "--quiet", "--quiet"])).toMatch(/^--quiet/)
  })

  it("refuses --flag= with an empty value, naming the flag", () => {
    expect(Zpd.precheck(["run", "sec", "--out="])).toBe("--out: expected a value after \"=\", got nothing")
    expect(Zpd.precheck(["run", "sec", "--data= "])).toMatch(/^--data: expected a value/)
  })

  it("refuses bad numbers naming the flag, the bound and the text", () => {
    expect(Zpd.precheck(["run", "sec", "--steps", "ten"])).toBe("--steps: expected an integer ≥ 0, got \"ten\"")
    expect(Zpd.precheck(["run", "sec", "--steps=1.5"])).toMatch(/^--steps: .*"1.5"/)
    expect(Zpd.precheck(["run", "sec", "--batch-size", "0"])).toMatch(/^--batch-size: expected an integer ≥ 1/)
    expect(Zpd.precheck(["run", "sec", "--seed", "99999999999999999999"])).toMatch(/^--seed/)
    expect(Zpd.precheck(["run", "sec", "--checkpoint-every", "-1"])).toMatch(
      /^--checkpoint-every: expected an integer ≥ 0/
    )
    expect(Zpd.precheck(["run", "sec", "--steps"])).toMatch(/^--steps: expected a value/)
    expect(Zpd.precheck(["run", "sec", "--steps", "--quiet"])).toMatch(/^--steps: expected a value/)
  })

  it("refuses a switch given a value other than true/false", () => {
    expect(Zpd.precheck(["run", "sec", "--overwrite=maybe"])).toMatch(/^--overwrite: a switch/)
    expect(Zpd.precheck(["run", "sec", "--quiet=true"])).toBeUndefined()
  })

  it("accepts a valid command line, and ignores what follows --", () => {
    expect(Zpd.precheck(["run", "sec", "--steps", "5", "--seed", "-3", "--out", "x", "--overwrite"])).toBeUndefined()
    expect(Zpd.precheck(["run", "sec", "--steps", "5", "--", "--steps", "6"])).toBeUndefined()
    expect(Zpd.precheck(["run", "sec", "--constructor", "x"])).toBeUndefined()
  })
})

describe("zpd run (in-process)", () => {
  it.effect("unknown flags, a missing curriculum and an extra argument are validation errors", () =>
    Effect.gen(function*() {
      for (const args of [["run", "sec", "--bogus", "1"], ["run"], ["run", "sec", "extra"]]) {
        const result = yield* zpd(...args)
        expect(Either.isLeft(result) && ValidationError.isValidationError(result.left), args.join(" ")).toBe(true)
      }
    }))

  it.effect("an out-of-range number that passes the shape check still fails naming the flag", () =>
    Effect.gen(function*() {
      const result = yield* zpd("run", "sec", "--steps", "-4")
      expect(Either.isLeft(result)).toBe(true)
      const text = JSON.stringify(Either.isLeft(result) ? result.left : "")
      expect(text).toContain("--steps: expected an integer ≥ 0")
    }))

  it.effect("an unknown curriculum is a ConfigError listing the known names; expressions go to Registry.parse", () =>
    Effect.gen(function*() {
      const result = yield* zpd("run", "secc", "--steps", "1", ...fast)
      expect(Either.isLeft(result)).toBe(true)
      const error = Either.isLeft(result) ? (result.left as { field?: string; message: string }) : undefined
      expect(error?.field).toMatch(/^curriculum/)
      expect(error?.message).toContain("\"secc\"")
      for (const name of ["random", "ordered", "sec", "cdas", "pcl", "adacurl", "dapo"]) {
        expect(error?.message).toContain(name)
      }
      expect(Either.isRight(Curricula.lookup("adacurl.gate > sec(arms=bucket)"))).toBe(true)
    }))

  it.effect("--out pointing at a file fails naming out; nothing is written", () =>
    Effect.gen(function*() {
      const file = join(temp(), "file")
      writeFileSync(file, "x")
      const result = yield* zpd("run", "random", "--steps", "1", "--out", file, ...fast)
      const error = Either.isLeft(result) ? (result.left as { field?: string; message: string }) : undefined
      expect(error?.field).toBe("out")
      expect(error?.message).toContain("a directory")
      expect(readFileSync(file, "utf8")).toBe("x")
    }))

  it.effect("trains, writes the run directory, checkpoints every N, and refuses a second fresh run there", () =>
    Effect.gen(function*() {
      const out = join(temp(), "run")
      const ok = yield* zpd("run", "random", "--steps", "3", "--out", out, "--checkpoint-every", "2", ...fast)
      expect(Either.isRight(ok)).toBe(true)
      expect(readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n")).toHaveLength(3)
      expect(JSON.parse(readFileSync(join(out, "checkpoint", "state.json"), "utf8")).step).toBe(3)
      const again = yield* zpd("run", "random", "--steps", "3", "--out", out, ...fast)
      expect(Either.isLeft(again) && (again.left as { field?: string }).field).toBe("out")
      const resumed = yield* zpd("run", "random", "--steps", "5", "--resume", out, ...fast)
      expect(Either.isRight(resumed)).toBe(true)
      expect(readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n")).toHaveLength(5)
      const other = yield* zpd("run", "sec", "--steps", "6", "--resume", out, ...fast)
      expect(Either.isLeft(other) && (other.left as { field?: string }).field).toBe("curriculum")
    }))

  it.effect("a dataset with a typo'd field fails naming file, line and the nearest field; the opt-out trains", () =>
    Effect.gen(function*() {
      const dir = temp()
      const file = join(dir, "train.jsonl")
      writeFileSync(
        file,
        Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `${i}?`, anwser: "1", level: 1 })).join("\n")
      )
      const bad = yield* zpd("run", "sec", "--data", file, "--steps", "1", ...fast)
      const message = Either.isLeft(bad) ? (bad.left as { message: string }).message : ""
      expect(message).toContain(`${file}:1`)
      expect(message).toContain("did you mean \"answer\"")
      const ok = yield* zpd("run", "sec", "--data", file, "--steps", "1", "--allow-unknown-fields", ...fast)
      expect(Either.isRight(ok)).toBe(true)
      const big = yield* zpd(
        "run",
        "sec",
        "--data",
        file,
        "--steps",
        "1",
        "--allow-unknown-fields",
        "--batch-size",
        "9",
        "--group-size",
        "2",
        "--quiet"
      )
      expect(Either.isLeft(big) && (big.left as { field?: string }).field).toBe("batchSize")
    }))
})

describe("the zpd executable", () => {
  it("bin/zpd.mjs runs the command (npx zpd) and exits 2 on a bad flag with the flag named", () => {
    const bin = join(import.meta.dirname, "..", "bin", "zpd.mjs")
    const version = spawnSync(process.execPath, [bin, "--version"], { encoding: "utf8" })
    expect(version.status, version.stderr).toBe(0)
    expect(version.stdout).toContain("0.1.0")
    const bad = spawnSync(process.execPath, [bin, "run", "sec", "--out="], { encoding: "utf8" })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain("--out: expected a value")
    expect(existsSync(bin)).toBe(true)
  })
})
