/**
 * The error family of zpd. Every error names where the problem is (a file and
 * line, a config field, or a runtime endpoint) and what was expected, so a user
 * can fix their input without reading zpd's source.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A dataset record that does not decode. `file` and `line` (1-based) point at
 * the record; `field` is the offending key.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatasetError extends Schema.TaggedError<DatasetError>("@zpd/core/DatasetError")("DatasetError", {
  file: Schema.String,
  line: Schema.optional(Schema.Number),
  field: Schema.optional(Schema.String),
  expected: Schema.String,
  actual: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const where = this.line === undefined ? this.file : `${this.file}:${this.line}`
    const field = this.field === undefined ? "" : ` field "${this.field}"`
    const actual = this.actual === undefined ? "" : ` (got ${this.actual})`
    return `${where}:${field} expected ${this.expected}${actual}`
  }
}

/**
 * A configuration value out of range. `field` is the dotted option path as the
 * user wrote it, e.g. `sec.temperature`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigError extends Schema.TaggedError<ConfigError>("@zpd/core/ConfigError")("ConfigError", {
  field: Schema.String,
  expected: Schema.String,
  actual: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const actual = this.actual === undefined ? "" : `, got ${this.actual}`
    return `config field "${this.field}": expected ${this.expected}${actual}`
  }
}

/**
 * A checkpoint that cannot be written, read or decoded.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointError extends Schema.TaggedError<CheckpointError>("@zpd/core/CheckpointError")(
  "CheckpointError",
  {
    path: Schema.String,
    reason: Schema.String
  }
) {
  override get message(): string {
    return `checkpoint ${this.path}: ${this.reason}`
  }
}

/**
 * A failure at the runtime boundary (inference or trainer). `endpoint` names the
 * operation or URL; `reason` classifies it so callers can retry selectively.
 *
 * @since 0.1.0
 * @category errors
 */
export class RuntimeError extends Schema.TaggedError<RuntimeError>("@zpd/core/RuntimeError")("RuntimeError", {
  endpoint: Schema.String,
  reason: Schema.Literal("Unavailable", "Timeout", "BadResponse", "Refused", "Internal"),
  description: Schema.String
}) {
  override get message(): string {
    return `${this.endpoint}: ${this.reason}: ${this.description}`
  }
}

/**
 * Any zpd error.
 *
 * @since 0.1.0
 * @category errors
 */
export type ZpdError = DatasetError | ConfigError | CheckpointError | RuntimeError

/**
 * Builds a {@link ConfigError} unless `ok` holds. Used by every plugin to
 * validate its options in one line each.
 *
 * @since 0.1.0
 * @category constructors
 */
export const requireConfig = (ok: boolean, field: string, expected: string, actual: unknown): ConfigError | undefined =>
  ok ? undefined : new ConfigError({ field, expected, actual: String(actual) })
