/**
 * The shared shape of every plugin's `validate`: the first failing check, or
 * the config.
 *
 * @internal
 */
import { type ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Either from "effect/Either"
import type * as Schema from "effect/Schema"

/** The config when every check passes, else the first {@link ConfigError}. @internal */
export const validated = <A>(
  config: A,
  ...checks: ReadonlyArray<ConfigError | undefined>
): Either.Either<A, ConfigError> => {
  const failed = checks.find((c) => c !== undefined)
  return failed === undefined ? Either.right(config) : Either.left(failed)
}

/**
 * Metadata keys as a list: an expression may give one key as a word
 * (`sec(arms=bucket)`), which means the one-key list. @internal
 */
export const keyList = (keys: ReadonlyArray<string> | string): ReadonlyArray<string> =>
  typeof keys === "string" ? [keys] : keys

/** A non-empty list of strings (metadata keys). @internal */
export const keysGiven = (keys: ReadonlyArray<string>, field: string) =>
  requireConfig(
    Array.isArray(keys) && keys.length > 0 && keys.every((k) => typeof k === "string"),
    field,
    "at least one metadata key (a key or a list of keys)",
    keys
  )

/** @internal */
export const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x)

/** An integer ≥ `min`. @internal */
export const intAtLeast = (x: number, min: number, field: string, what = "") =>
  requireConfig(isInt(x) && x >= min, field, `an integer ≥ ${min}${what}`, x)

/** `undefined` or an integer ≥ `min`. @internal */
export const optionalInt = (x: number | undefined, min: number, field: string) =>
  x === undefined ? undefined : intAtLeast(x, min, field, " (or undefined)")

/** One of `values`. @internal */
export const oneOf = <A>(x: A, values: ReadonlyArray<A>, field: string) =>
  requireConfig(values.includes(x), field, listed(values.map((v) => JSON.stringify(v))), x)

const listed = (xs: ReadonlyArray<string>) =>
  xs.length <= 1 ? xs.join("") : `${xs.slice(0, -1).join(", ")} or ${xs.at(-1)}`

/** A finite number ≥ `min`. @internal */
export const finiteAtLeast = (x: number, min: number, field: string) =>
  requireConfig(Number.isFinite(x) && x >= min, field, `a finite number ≥ ${min}`, x)

/** `high` finite and above the finite `low` (named `lowName`); the error names `field`, the high end. @internal */
export const finiteAbove = (high: number, low: number, field: string, lowName: string) =>
  requireConfig(
    Number.isFinite(low) && Number.isFinite(high) && low < high,
    field,
    `a finite number > ${lowName} = ${low}`,
    high
  )

/** A finite number > 0. @internal */
export const positive = (x: number, field: string) =>
  requireConfig(Number.isFinite(x) && x > 0, field, "a finite number > 0", x)

/** A finite number in `[lo, hi]`. @internal */
export const inRange = (x: number, lo: number, hi: number, field: string, expected = `a number in [${lo}, ${hi}]`) =>
  requireConfig(Number.isFinite(x) && x >= lo && x <= hi, field, expected, x)

/** An integer in `[lo, hi]`. @internal */
export const intInRange = (x: number, lo: number, hi: number, field: string) =>
  requireConfig(isInt(x) && x >= lo && x <= hi, field, `an integer in [${lo}, ${hi}]`, x)

/** An inclusive band `0 ≤ pLow ≤ pHigh ≤ 1` of pass rates, fields `<prefix>.pLow` / `<prefix>.pHigh`. @internal */
export const passRateBand = (band: { readonly pLow: number; readonly pHigh: number }, prefix: string) =>
  inRange(band.pLow, 0, 1, `${prefix}.pLow`) ??
    inRange(band.pHigh, band.pLow, 1, `${prefix}.pHigh`, `a number in [pLow = ${band.pLow}, 1]`)

/**
 * The fields every plugin part opens with: its name (state key and metric
 * namespace), its checkpointed state's Schema and its validated options.
 * Spread into `Part.sampler({ ...declared(…), build })`. @internal
 */
export const declared = <S, I, C>(
  name: string,
  state: Schema.Schema<S, I>,
  options: Either.Either<C, ConfigError>
): { readonly name: string; readonly state: Schema.Schema<S, I>; readonly options: Either.Either<C, ConfigError> } => ({
  name,
  state,
  options
})
