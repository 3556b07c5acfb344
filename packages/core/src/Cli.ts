/**
 * The command-line contract every example shares (DESIGN §7):
 * `--steps N --seed S --out DIR --resume DIR`, plus `--data FILE.jsonl`,
 * `--batch-size`, `--group-size` and `--quiet`. Parsing is pure, so it runs on any runtime;
 * unknown flags and bad values fail with a {@link ConfigError} naming the
 * flag.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { ConfigError } from "./Errors.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Args {
  readonly steps: number
  readonly seed: number | undefined
  readonly out: string | undefined
  readonly resume: string | undefined
  /** A JSONL dataset to train on instead of the built-in task suite. */
  readonly data: string | undefined
  readonly batchSize: number | undefined
  readonly groupSize: number | undefined
  readonly quiet: boolean
}

const integerFlags = { "--steps": "steps", "--seed": "seed", "--batch-size": "batchSize", "--group-size": "groupSize" }
const stringFlags = { "--out": "out", "--resume": "resume", "--data": "data" }

/**
 * Usage text.
 *
 * @since 0.1.0
 * @category constants
 */
export const usage =
  "options: --steps N  --seed S  --out DIR  --resume DIR  --data FILE.jsonl  --batch-size B  --group-size G  --quiet"

/**
 * Parses `argv` (without the program name). `defaultSteps` applies when
 * `--steps` is absent.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (argv: ReadonlyArray<string>, defaultSteps: number): Either.Either<Args, ConfigError> => {
  const out: Record<string, unknown> = { steps: defaultSteps, quiet: false }
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!
    const [flag, inline] = raw.includes("=") ? [raw.slice(0, raw.indexOf("=")), raw.slice(raw.indexOf("=") + 1)] : [raw]
    if (flag === "--quiet") {
      out["quiet"] = true
      continue
    }
    const intKey = integerFlags[flag as keyof typeof integerFlags]
    const strKey = stringFlags[flag as keyof typeof stringFlags]
    if (intKey === undefined && strKey === undefined) {
      return Either.left(new ConfigError({ field: flag, expected: `a known option (${usage})`, actual: raw }))
    }
    const value = inline ?? argv[++i]
    if (value === undefined || value.startsWith("--")) {
      return Either.left(new ConfigError({ field: flag, expected: "a value after the flag", actual: "nothing" }))
    }
    if (intKey !== undefined) {
      const n = Number(value)
      const min = intKey === "seed" ? -(2 ** 31) : intKey === "steps" ? 0 : 1
      if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
        return Either.left(new ConfigError({ field: flag, expected: `an integer ≥ ${min}`, actual: value }))
      }
      out[intKey] = n
    } else {
      out[strKey!] = value
    }
  }
  return Either.right({
    steps: out["steps"] as number,
    seed: out["seed"] as number | undefined,
    out: out["out"] as string | undefined,
    resume: out["resume"] as string | undefined,
    data: out["data"] as string | undefined,
    batchSize: out["batchSize"] as number | undefined,
    groupSize: out["groupSize"] as number | undefined,
    quiet: out["quiet"] as boolean
  })
}
