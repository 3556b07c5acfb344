/**
 * Problems and datasets. A problem is one verifiable prompt; a dataset is an
 * ordered, immutable array of problems whose position is the problem's dense
 * index. All per-problem curriculum state is a column keyed by that index.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { DatasetError } from "./Errors.ts"

/**
 * One verifiable problem.
 *
 * - `level`: integer difficulty level (1 = easiest). SEC asserts integer
 *   difficulties, and so do we.
 * - `family`: the task family or source dataset (e.g. `countdown`); verifiers
 *   and AdaCuRL's per-source quotas key on it.
 * - `metadata`: free-form scalar features; any key can define curriculum arms.
 *
 * @since 0.1.0
 * @category models
 */
export const Problem = Schema.Struct({
  id: Schema.String,
  prompt: Schema.String.pipe(Schema.minLength(1, { message: () => "a non-empty string" })),
  answer: Schema.String,
  level: Schema.Int,
  family: Schema.String,
  metadata: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number) })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Problem extends Schema.Schema.Type<typeof Problem> {}

/**
 * The on-disk JSONL record: `prompt` and `level` are required, the rest have
 * defaults (`id` = `<file>:<line>`, `family` = `"default"`, `answer` = `""`).
 *
 * @since 0.1.0
 * @category models
 */
export const ProblemRecord = Schema.Struct({
  id: Schema.optional(Schema.Union(Schema.String, Schema.Int)),
  prompt: Schema.String.pipe(Schema.minLength(1)),
  answer: Schema.optional(Schema.Union(Schema.String, Schema.Number)),
  level: Schema.Int,
  family: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number) }))
})

/**
 * An ordered set of problems. `problems[i]` has dense index `i`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Dataset {
  readonly name: string
  readonly problems: ReadonlyArray<Problem>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (name: string, problems: ReadonlyArray<Problem>): Dataset => ({ name, problems })

/**
 * The value of a feature of a problem: `level`, `family`, `id`, or any
 * metadata key. Returns `undefined` when the problem lacks the key.
 *
 * @since 0.1.0
 * @category accessors
 */
export const feature = (problem: Problem, key: string): string | number | undefined => {
  switch (key) {
    case "level":
    case "difficulty":
      return problem.level
    case "family":
    case "type":
      return problem.family
    case "id":
      return problem.id
    default:
      return problem.metadata[key]
  }
}

/**
 * Keeps the problems matching `predicate`, renumbering dense indices.
 *
 * @since 0.1.0
 * @category combinators
 */
export const filter = (dataset: Dataset, name: string, predicate: (p: Problem) => boolean): Dataset =>
  make(name, dataset.problems.filter(predicate))

/**
 * Distinct levels, ascending.
 *
 * @since 0.1.0
 * @category accessors
 */
export const levels = (dataset: Dataset): ReadonlyArray<number> =>
  Array.from(new Set(dataset.problems.map((p) => p.level))).sort((a, b) => a - b)

/**
 * How strictly a JSONL dataset is read.
 *
 * @since 0.1.0
 * @category models
 */
export interface ParseOptions {
  /**
   * Ignore fields a record does not define instead of failing (a typo such as
   * `anwser` then silently leaves `answer` at its default). Default `false`.
   */
  readonly allowUnknownFields?: boolean
  /** Longest prompt accepted, in UTF-16 code units. Default {@link defaultMaxPromptChars}. */
  readonly maxPromptChars?: number
}

/**
 * The default prompt length limit: 32,768 characters, about 8k tokens, a
 * generous bound for one RL prompt; raise it with `maxPromptChars` [R].
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxPromptChars = 32_768

/** Anything but whitespace, separators and format characters (zero-width spaces, joiners, BOMs): a prompt without one is blank. */
const visible = /[^\s\p{Z}\p{Cf}]/u

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

const knownFields = ["id", "prompt", "answer", "level", "family", "metadata"] as const

const decodeRecord = Schema.decodeUnknownEither(ProblemRecord, { errors: "first", onExcessProperty: "ignore" })

const isInt = (x: unknown): x is number => Number.isSafeInteger(x)

const isMetadata = (x: unknown): x is Readonly<Record<string, string | number>> => {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false
  for (const k in x) {
    const v = (x as Record<string, unknown>)[k]
    if (typeof v !== "string" && typeof v !== "number") return false
  }
  return true
}

/**
 * The record when it is a well-formed {@link ProblemRecord} (what the schema
 * would accept), checked by hand: a million-line dataset loads in a fraction
 * of the schema's time. Anything else goes through the schema, which names
 * what is wrong.
 */
const wellFormed = (r: Record<string, unknown>): typeof ProblemRecord.Type | undefined => {
  const { answer, family, id, level, metadata, prompt } = r
  return typeof prompt === "string" && prompt.length > 0 && isInt(level) &&
      (id === undefined || typeof id === "string" || isInt(id)) &&
      (answer === undefined || typeof answer === "string" || typeof answer === "number") &&
      (family === undefined || typeof family === "string") && (metadata === undefined || isMetadata(metadata))
    ? (r as typeof ProblemRecord.Type)
    : undefined
}

const editDistance = (a: string, b: string): number => {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length]!
}

/** The known field closest to `name`, when it is plausibly a typo of it. */
const nearestField = (name: string): string | undefined => {
  const ranked = knownFields.map((f) => [editDistance(name.toLowerCase(), f), f] as const).sort((x, y) => x[0] - y[0])
  const [distance, field] = ranked[0]!
  return distance <= Math.max(2, Math.floor(field.length / 2)) ? field : undefined
}

const describeIssue = (
  issue: ParseResult.ParseIssue
): { field: string | undefined; expected: string; actual: string } => {
  const [first] = ParseResult.ArrayFormatter.formatIssueSync(issue)
  const field = first && first.path.length > 0 ? first.path.map(String).join(".") : undefined
  const expectedByField: Record<string, string> = {
    prompt: "a non-empty string",
    level: "an integer difficulty level",
    id: "a string or integer",
    answer: "a string or number",
    family: "a string",
    metadata: "an object of string or number values"
  }
  const missing = first?.message === "is missing"
  const top = field?.split(".")[0]
  const expected = (top && expectedByField[top]) ?? first?.message ?? "a valid problem record"
  return { field, expected: missing ? `${expected} (the field is missing)` : expected, actual: first?.message ?? "" }
}

const preview = (
  text: string
): string => (text.length > 40 ? `${JSON.stringify(text.slice(0, 40))}…` : JSON.stringify(text))

/**
 * Decodes one JSONL line into a problem, failing with a {@link DatasetError}
 * naming `file`, the 1-based `line`, the field and what was expected: unknown
 * fields (with the nearest known one), a blank prompt, a prompt over the
 * length limit, and wrongly typed fields.
 *
 * @since 0.1.0
 * @category parsing
 */
export const decodeLine = (
  file: string,
  line: number,
  text: string,
  options: ParseOptions = {}
): Either.Either<Problem, DatasetError> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Either.left(new DatasetError({ file, line, expected: "one JSON object per line", actual: String(e) }))
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left(new DatasetError({ file, line, expected: "a JSON object", actual: JSON.stringify(json) }))
  }
  const record = json as Record<string, unknown>
  if (options.allowUnknownFields !== true) {
    const unknown = Object.keys(record).find((k) => !(knownFields as ReadonlyArray<string>).includes(k))
    if (unknown !== undefined) {
      const nearest = nearestField(unknown)
      return Either.left(
        new DatasetError({
          file,
          line,
          field: unknown,
          expected: `one of the fields ${knownFields.join(", ")}${
            nearest === undefined ? "" : ` (did you mean "${nearest}"?)`
          }; pass --allow-unknown-fields (allowUnknownFields) to ignore extra fields`,
          actual: `unknown field "${unknown}"`
        })
      )
    }
  }
  for (const field of ["prompt", "answer", "id", "family"]) {
    const value = record[field]
    if (typeof value === "string" && loneSurrogate.test(value)) {
      return Either.left(
        new DatasetError({ file, line, field, expected: "well-formed Unicode text", actual: "a lone surrogate escape" })
      )
    }
  }
  const prompt = record["prompt"]
  if (typeof prompt === "string") {
    if (!visible.test(prompt)) {
      return Either.left(
        new DatasetError({
          file,
          line,
          field: "prompt",
          expected: "a non-empty string with visible characters",
          actual: prompt.length === 0 ? "\"\"" : `${prompt.length} whitespace characters`
        })
      )
    }
    const limit = options.maxPromptChars ?? defaultMaxPromptChars
    if (prompt.length > limit) {
      return Either.left(
        new DatasetError({
          file,
          line,
          field: "prompt",
          expected: `at most ${limit} characters (raise it with --max-prompt-chars / maxPromptChars)`,
          actual: `${prompt.length} characters starting ${preview(prompt)}`
        })
      )
    }
  }
  const fast = wellFormed(record)
  if (fast !== undefined) return Either.right(toProblem(file, line, fast))
  return Either.match(decodeRecord(record), {
    onLeft: (error) => {
      const { expected, field } = describeIssue(error.issue)
      const raw = field === undefined ? undefined : record[field.split(".")[0]!]
      return Either.left(
        new DatasetError({
          file,
          line,
          ...(field === undefined ? {} : { field }),
          expected,
          ...(raw === undefined ? {} : { actual: JSON.stringify(raw) })
        })
      )
    },
    onRight: (r) => Either.right(toProblem(file, line, r))
  })
}

const toProblem = (file: string, line: number, r: typeof ProblemRecord.Type): Problem => ({
  id: r.id === undefined ? `${file}:${line}` : String(r.id),
  prompt: r.prompt,
  answer: r.answer === undefined ? "" : String(r.answer),
  level: r.level,
  family: r.family ?? "default",
  metadata: r.metadata ?? {}
})

/**
 * Parses JSONL text (blank lines skipped, a leading byte-order mark
 * ignored). Fails on the first bad line, and on a duplicate id (ids compare
 * as strings, so `5` and `"5"` collide) naming both lines.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseJsonl = (
  file: string,
  text: string,
  options: ParseOptions = {}
): Either.Either<Dataset, DatasetError> => {
  const problems: Array<Problem> = []
  const seen = new Map<string, number>()
  const lines = (text.startsWith("\uFEFF") ? text.slice(1) : text).split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line.length === 0) continue
    const decoded = decodeLine(file, i + 1, line, options)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    const first = seen.get(decoded.right.id)
    if (first !== undefined) {
      return Either.left(
        new DatasetError({
          file,
          line: i + 1,
          field: "id",
          expected: `a unique id (lines ${first} and ${i + 1} both have id ${JSON.stringify(decoded.right.id)})`,
          actual: JSON.stringify((JSON.parse(line) as { id?: unknown }).id)
        })
      )
    }
    seen.set(decoded.right.id, i + 1)
    problems.push(decoded.right)
  }
  if (problems.length === 0) {
    return Either.left(new DatasetError({ file, expected: "at least one problem record" }))
  }
  return Either.right(make(file, problems))
}

/** Decodes UTF-8 strictly; on a bad sequence names its 1-based line and byte column. */
const decodeUtf8 = (file: string, bytes: Uint8Array): Either.Either<string, DatasetError> => {
  try {
    return Either.right(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch {
    const strict = new TextDecoder("utf-8", { fatal: true })
    let start = 0
    let line = 1
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue
      const slice = bytes.subarray(start, i)
      try {
        strict.decode(slice)
      } catch {
        const lenient = new TextDecoder("utf-8").decode(slice)
        const column = Math.max(0, lenient.indexOf("\uFFFD"))
        return Either.left(
          new DatasetError({
            file,
            line,
            expected: "UTF-8 text",
            actual: `an invalid UTF-8 byte sequence near character ${column + 1}`
          })
        )
      }
      start = i + 1
      line++
    }
    return Either.left(new DatasetError({ file, expected: "UTF-8 text", actual: "an invalid UTF-8 byte sequence" }))
  }
}

/**
 * Loads a JSONL dataset through `@effect/platform`'s FileSystem, so it runs on
 * Node, Deno and Bun alike. The bytes must be valid UTF-8.
 *
 * **Example**
 * ```ts
 * const train = yield* Problem.fromJsonl("data/train.jsonl")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJsonl = (
  file: string,
  options: ParseOptions = {}
): Effect.Effect<Dataset, DatasetError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const bytes = yield* fs.readFile(file).pipe(
      Effect.mapError((e) => new DatasetError({ file, expected: "a readable JSONL file", actual: e.message }))
    )
    const text = yield* decodeUtf8(file, bytes)
    return yield* parseJsonl(file, text, options)
  })

/**
 * Encodes problems as JSONL text (one record per line).
 *
 * @since 0.1.0
 * @category encoding
 */
export const toJsonl = (problems: ReadonlyArray<Problem>): string =>
  problems.map((p) => JSON.stringify(p)).join("\n") + "\n"
