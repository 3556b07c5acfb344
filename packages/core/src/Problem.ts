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

const decodeRecord = Schema.decodeUnknownEither(ProblemRecord, { errors: "first", onExcessProperty: "ignore" })

const describeIssue = (issue: ParseResult.ParseIssue): { field: string | undefined; expected: string; actual: string } => {
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

/**
 * Decodes one JSONL line into a problem, failing with a {@link DatasetError}
 * naming `file`, the 1-based `line` and the field.
 *
 * @since 0.1.0
 * @category parsing
 */
export const decodeLine = (file: string, line: number, text: string): Either.Either<Problem, DatasetError> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Either.left(new DatasetError({ file, line, expected: "one JSON object per line", actual: String(e) }))
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left(new DatasetError({ file, line, expected: "a JSON object", actual: JSON.stringify(json) }))
  }
  return Either.match(decodeRecord(json), {
    onLeft: (error) => {
      const { expected, field } = describeIssue(error.issue)
      const raw = field === undefined ? undefined : (json as Record<string, unknown>)[field.split(".")[0]!]
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
    onRight: (r) =>
      Either.right({
        id: r.id === undefined ? `${file}:${line}` : String(r.id),
        prompt: r.prompt,
        answer: r.answer === undefined ? "" : String(r.answer),
        level: r.level,
        family: r.family ?? "default",
        metadata: r.metadata ?? {}
      })
  })
}

/**
 * Parses JSONL text (blank lines skipped). Fails on the first bad line.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseJsonl = (file: string, text: string): Either.Either<Dataset, DatasetError> => {
  const problems: Array<Problem> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line.length === 0) continue
    const decoded = decodeLine(file, i + 1, line)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    problems.push(decoded.right)
  }
  if (problems.length === 0) {
    return Either.left(new DatasetError({ file, expected: "at least one problem record" }))
  }
  return Either.right(make(file, problems))
}

/**
 * Loads a JSONL dataset through `@effect/platform`'s FileSystem, so it runs on
 * Node, Deno and Bun alike.
 *
 * **Example**
 * ```ts
 * const train = yield* Problem.fromJsonl("data/train.jsonl")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJsonl = (file: string): Effect.Effect<Dataset, DatasetError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((e) => new DatasetError({ file, expected: "a readable JSONL file", actual: e.message }))
    )
    return yield* parseJsonl(file, text)
  })

/**
 * Encodes problems as JSONL text (one record per line).
 *
 * @since 0.1.0
 * @category encoding
 */
export const toJsonl = (problems: ReadonlyArray<Problem>): string =>
  problems.map((p) => JSON.stringify(p)).join("\n") + "\n"
