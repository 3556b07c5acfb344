import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Cli from "../src/Cli.ts"
import { ConfigError } from "../src/Errors.ts"

const ok = (argv: ReadonlyArray<string>, defaultSteps = 10): Cli.Args => {
  const result = Cli.parse(argv, defaultSteps)
  if (Either.isLeft(result)) throw new Error(`expected success, got ${result.left.message}`)
  return result.right
}

const fail = (argv: ReadonlyArray<string>, defaultSteps = 10): ConfigError => {
  const result = Cli.parse(argv, defaultSteps)
  if (Either.isRight(result)) throw new Error(`expected a ConfigError, got ${JSON.stringify(result.right)}`)
  expect(result.left).toBeInstanceOf(ConfigError)
  return result.left
}

describe("Cli.parse", () => {
  it("defaults: steps from the caller, everything else unset, not quiet", () => {
    const args = ok([], 37)
    expect(args).toMatchObject({
      steps: 37,
      seed: undefined,
      out: undefined,
      resume: undefined,
      batchSize: undefined,
      groupSize: undefined,
      quiet: false
    })
    expect(ok([], 3).steps).toBe(3)
  })

  it("parses every flag", () => {
    const args = ok(
      ["--steps", "5", "--seed", "3", "--out", "d", "--resume", "r", "--batch-size", "4", "--group-size", "2", "--quiet"],
      100
    )
    expect(args).toMatchObject({
      steps: 5,
      seed: 3,
      out: "d",
      resume: "r",
      batchSize: 4,
      groupSize: 2,
      quiet: true
    })
  })

  it("--data takes a JSONL path (unset by default)", () => {
    expect(ok([]).data).toBeUndefined()
    expect(ok(["--data", "train.jsonl"]).data).toBe("train.jsonl")
    expect(ok(["--data=x/y.jsonl"]).data).toBe("x/y.jsonl")
    expect(fail(["--data"]).field).toBe("--data")
  })

  it("accepts the --flag=value form, including values containing '='", () => {
    expect(ok(["--steps=7"]).steps).toBe(7)
    expect(ok(["--out=runs/a=b"]).out).toBe("runs/a=b")
    expect(ok(["--seed=-4", "--batch-size=8"])).toMatchObject({ seed: -4, batchSize: 8 })
  })

  it("the last occurrence of a flag wins", () => {
    expect(ok(["--steps", "1", "--steps", "2"]).steps).toBe(2)
  })

  it("steps may be 0 and the seed negative", () => {
    expect(ok(["--steps", "0"]).steps).toBe(0)
    expect(ok(["--seed", "-7"]).seed).toBe(-7)
  })

  it("an unknown flag fails with a ConfigError naming it", () => {
    const error = fail(["--steps", "2", "--bogus", "1"])
    expect(error.field).toBe("--bogus")
    expect(error.message).toContain("--bogus")
    expect(fail(["steps"]).field).toBe("steps")
    expect(fail(["--Steps=3"]).message).toContain("--Steps")
  })

  it("bad integer values fail naming the flag", () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string, string]> = [
      [["--steps", "-1"], "--steps", "-1"],
      [["--steps", "abc"], "--steps", "abc"],
      [["--steps", "2.5"], "--steps", "2.5"],
      [["--batch-size", "0"], "--batch-size", "0"],
      [["--group-size", "0"], "--group-size", "0"],
      [["--seed", "x"], "--seed", "x"],
      [["--steps", "99999999999999999999"], "--steps", "99999999999999999999"]
    ]
    for (const [argv, flag, value] of cases) {
      const error = fail(argv)
      expect(error.field).toBe(flag)
      expect(error.actual).toBe(value)
      expect(error.message).toContain(flag)
      expect(error.message).toContain("integer")
    }
  })

  it("a flag without a value fails naming the flag", () => {
    for (const [argv, flag] of [
      [["--out"], "--out"],
      [["--steps"], "--steps"],
      [["--resume", "--quiet"], "--resume"],
      [["--seed", "--steps", "3"], "--seed"]
    ] as const) {
      const error = fail(argv)
      expect(error.field).toBe(flag)
      expect(error.message).toContain(flag)
      expect(error.message).toContain("a value")
    }
  })

  it("the usage text lists every flag", () => {
    for (const flag of ["--steps", "--seed", "--out", "--resume", "--batch-size", "--group-size", "--quiet"]) {
      expect(Cli.usage).toContain(flag)
    }
  })
})
