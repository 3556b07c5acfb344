/**
 * Bad `--data` files (issue "Trust", bad input): each variant is written to a
 * temp file and given to `zpd run sec --data FILE --steps 1`. A bad variant
 * must fail naming the file, the line and the field; a good one must train.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { expectError, expectOk, type FaultCase, zpd } from "./Case.ts"

const row = (i: number, patch: Record<string, unknown> = {}) =>
  JSON.stringify({ id: `q${i}`, prompt: `What is ${i} + ${i}?`, answer: String(2 * i), level: 1 + (i % 3), ...patch })

/** 12 good rows with `bad` replacing row `at` (1-based). */
const withLine = (at: number, bad: string, rows = 12) =>
  Array.from({ length: rows }, (_, i) => (i + 1 === at ? bad : row(i + 1))).join("\n") + "\n"

const good = withLine(0, "")

interface Variant {
  readonly name: string
  readonly content: string | Buffer
  /** Patterns the error must contain; `line` adds `FILE:line`. */
  readonly error?: { readonly line?: number; readonly patterns: ReadonlyArray<string | RegExp> }
  readonly flags?: ReadonlyArray<string>
  /** For a variant that must be refused by the run, not the file (e.g. a batch larger than the data). */
  readonly notAFile?: boolean
}

const bad = (name: string, line: number, text: string, ...patterns: ReadonlyArray<string | RegExp>): Variant => ({
  name,
  content: withLine(line, text),
  error: { line, patterns }
})

const variants: ReadonlyArray<Variant> = [
  // unknown fields (typos) everywhere or on one line
  {
    name: "anwser typo on every line",
    content: Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `p${i}`, anwser: "1", level: 1 })).join(
      "\n"
    ),
    error: { line: 1, patterns: ["anwser", "did you mean \"answer\""] }
  },
  bad("promt typo", 3, JSON.stringify({ promt: "x", prompt: "y", level: 1 }), "promt", "did you mean \"prompt\""),
  bad("levle typo", 4, JSON.stringify({ prompt: "x", levle: 2, level: 1 }), "levle", "did you mean \"level\""),
  bad("famly typo", 5, JSON.stringify({ prompt: "x", famly: "a", level: 1 }), "famly", "did you mean \"family\""),
  bad(
    "metdata typo",
    6,
    JSON.stringify({ prompt: "x", metdata: {}, level: 1 }),
    "metdata",
    "did you mean \"metadata\""
  ),
  bad("ID in capitals", 7, JSON.stringify({ ID: "a", prompt: "x", level: 1 }), "\"ID\"", "did you mean \"id\""),
  bad("Prompt capitalised", 8, JSON.stringify({ Prompt: "x", prompt: "x", level: 1 }), "Prompt", "\"prompt\""),
  bad(
    "key with a trailing space",
    9,
    JSON.stringify({ "answer ": "2", prompt: "x", level: 1 }),
    "answer ",
    "\"answer\""
  ),
  bad(
    "unrelated extra field",
    10,
    JSON.stringify({ prompt: "x", level: 1, source: "gsm8k" }),
    "source",
    "--allow-unknown-fields"
  ),
  bad(
    "unknown field on the last line only",
    12,
    JSON.stringify({ prompt: "x", level: 1, difficulty: 3 }),
    "difficulty"
  ),
  // duplicate ids
  {
    name: "duplicate string ids",
    content: withLine(7, row(3)),
    error: { line: 7, patterns: ["lines 3 and 7", "\"id\""] }
  },
  {
    name: "duplicate ids 5 and \"5\"",
    content: withLine(2, JSON.stringify({ id: 5, prompt: "a", level: 1 })).replace(
      row(9),
      JSON.stringify({ id: "5", prompt: "b", level: 1 })
    ),
    error: { line: 9, patterns: ["lines 2 and 9", "\"id\""] }
  },
  {
    name: "duplicate numeric ids",
    content: withLine(1, JSON.stringify({ id: 5, prompt: "a", level: 1 })).replace(
      row(4),
      JSON.stringify({ id: 5, prompt: "b", level: 1 })
    ),
    error: { line: 4, patterns: ["lines 1 and 4"] }
  },
  {
    name: "id equal to another line's default id",
    content: good.replace(row(4), JSON.stringify({ id: "q1", prompt: "b", level: 1 })),
    error: { line: 4, patterns: ["lines 1 and 4"] }
  },
  // encodings
  {
    name: "invalid UTF-8 byte 0xff in a prompt",
    content: Buffer.concat([
      Buffer.from(withLine(0, "").split("\n").slice(0, 3).join("\n") + "\n{\"prompt\":\"x"),
      Buffer.from([0xff]),
      Buffer.from("\",\"level\":1}\n")
    ]),
    error: { line: 4, patterns: ["UTF-8"] }
  },
  {
    name: "Latin-1 é in an answer",
    content: Buffer.concat([
      Buffer.from(row(1) + "\n{\"prompt\":\"caf\",\"answer\":\"caf"),
      Buffer.from([0xe9]),
      Buffer.from("\",\"level\":1}\n")
    ]),
    error: { line: 2, patterns: ["UTF-8"] }
  },
  {
    name: "truncated multi-byte sequence",
    content: Buffer.concat([
      Buffer.from(row(1) + "\n" + row(2) + "\n{\"prompt\":\"\u00e9"),
      Buffer.from([0xe2, 0x82]),
      Buffer.from("\",\"level\":1}\n")
    ]),
    error: { line: 3, patterns: ["UTF-8"] }
  },
  {
    name: "UTF-16 file with BOM",
    content: Buffer.from("\ufeff" + good, "utf16le"),
    error: { line: 1, patterns: ["UTF-8"] }
  },
  bad(
    "lone surrogate escape in a prompt",
    5,
    "{\"prompt\":\"a\\ud800b\",\"level\":1}",
    "prompt",
    "well-formed Unicode"
  ),
  bad(
    "lone low surrogate in an answer",
    6,
    "{\"prompt\":\"a\",\"answer\":\"\\udc00\",\"level\":1}",
    "answer",
    "well-formed"
  ),
  // blank and over-long prompts
  bad("whitespace-only prompt", 3, JSON.stringify({ prompt: "   ", level: 1 }), "\"prompt\"", "visible characters"),
  bad("tab and newline prompt", 4, JSON.stringify({ prompt: "\t\n", level: 1 }), "\"prompt\"", "visible characters"),
  bad("zero-width-space prompt", 5, JSON.stringify({ prompt: "\u200b\u200b", level: 1 }), "\"prompt\"", "visible"),
  bad("non-breaking-space prompt", 6, JSON.stringify({ prompt: "\u00a0", level: 1 }), "\"prompt\"", "visible"),
  bad("empty prompt", 2, JSON.stringify({ prompt: "", level: 1 }), "\"prompt\""),
  bad(
    "40k-character prompt",
    3,
    JSON.stringify({ prompt: "x".repeat(40_000), level: 1 }),
    "\"prompt\"",
    "at most 32768"
  ),
  bad("1 MB prompt", 4, JSON.stringify({ prompt: "y".repeat(1 << 20), level: 1 }), "\"prompt\"", "at most 32768"),
  bad(
    "10 MB prompt",
    5,
    JSON.stringify({ prompt: "z".repeat(10 << 20), level: 1 }),
    "\"prompt\"",
    "--max-prompt-chars"
  ),
  // wrong types and missing fields
  bad("missing prompt", 2, JSON.stringify({ answer: "1", level: 1 }), "\"prompt\"", "missing"),
  bad("prompt null", 3, JSON.stringify({ prompt: null, level: 1 }), "\"prompt\""),
  bad("prompt a number", 4, JSON.stringify({ prompt: 42, level: 1 }), "\"prompt\""),
  bad("prompt an array", 5, JSON.stringify({ prompt: ["a"], level: 1 }), "\"prompt\""),
  bad("missing level", 6, JSON.stringify({ prompt: "x" }), "\"level\"", "missing"),
  bad("level as a string", 7, JSON.stringify({ prompt: "x", level: "3" }), "\"level\"", "integer"),
  bad("fractional level", 8, JSON.stringify({ prompt: "x", level: 2.5 }), "\"level\"", "integer"),
  bad("level null", 9, JSON.stringify({ prompt: "x", level: null }), "\"level\""),
  bad("level true", 10, JSON.stringify({ prompt: "x", level: true }), "\"level\""),
  bad("answer an object", 2, JSON.stringify({ prompt: "x", answer: { a: 1 }, level: 1 }), "\"answer\""),
  bad("answer an array", 3, JSON.stringify({ prompt: "x", answer: [1], level: 1 }), "\"answer\""),
  bad("answer null", 4, JSON.stringify({ prompt: "x", answer: null, level: 1 }), "\"answer\""),
  bad("family a number", 5, JSON.stringify({ prompt: "x", family: 3, level: 1 }), "\"family\""),
  bad("metadata an array", 6, JSON.stringify({ prompt: "x", metadata: [1], level: 1 }), "metadata"),
  bad("metadata nested object", 7, JSON.stringify({ prompt: "x", metadata: { a: { b: 1 } }, level: 1 }), "metadata"),
  bad("metadata boolean value", 8, JSON.stringify({ prompt: "x", metadata: { a: true }, level: 1 }), "metadata"),
  bad("fractional id", 9, JSON.stringify({ id: 1.5, prompt: "x", level: 1 }), "\"id\""),
  bad("id null", 10, JSON.stringify({ id: null, prompt: "x", level: 1 }), "\"id\""),
  bad("id an object", 11, JSON.stringify({ id: { a: 1 }, prompt: "x", level: 1 }), "\"id\""),
  // not JSON objects
  bad("missing closing brace", 3, "{\"prompt\":\"x\",\"level\":1", "JSON"),
  bad("trailing comma", 4, "{\"prompt\":\"x\",\"level\":1,}", "JSON"),
  bad("single quotes", 5, "{'prompt':'x','level':1}", "JSON"),
  bad("NaN literal", 6, "{\"prompt\":\"x\",\"level\":NaN}", "JSON"),
  bad("Infinity literal", 7, "{\"prompt\":\"x\",\"level\":Infinity}", "JSON"),
  bad("comment line", 8, "# a comment", "JSON"),
  bad("two objects on one line", 9, row(90) + row(91), "JSON"),
  bad("raw control character in a string", 10, "{\"prompt\":\"a\u0001b\",\"level\":1}", "JSON"),
  bad("array line", 2, "[1, 2]", "a JSON object"),
  bad("number line", 3, "42", "a JSON object"),
  bad("string line", 4, "\"prompt\"", "a JSON object"),
  bad("null line", 5, "null", "a JSON object"),
  { name: "empty file", content: "", error: { patterns: ["at least one problem"] } },
  { name: "only blank lines", content: "\n \n\t\n", error: { patterns: ["at least one problem"] } },
  {
    name: "a batch larger than the dataset",
    content: withLine(0, "", 3),
    flags: ["--batch-size", "4"],
    notAFile: true,
    error: { patterns: ["--batch-size", "at most the dataset's 3 problems"] }
  },
  // variants that must train
  { name: "CRLF line endings (ok)", content: good.replaceAll("\n", "\r\n") },
  { name: "UTF-8 byte-order mark (ok)", content: "\ufeff" + good },
  { name: "blank lines between records (ok)", content: good.replaceAll("\n", "\n\n") },
  {
    name: "numeric ids and answers, metadata (ok)",
    content: Array.from(
      { length: 12 },
      (_, i) => JSON.stringify({ id: i, prompt: `p${i}`, answer: i, level: 1, metadata: { n: i, s: "x" } })
    ).join("\n")
  },
  {
    name: "unknown fields with --allow-unknown-fields (ok)",
    content: withLine(2, JSON.stringify({ prompt: "x", level: 1, source: "a" })),
    flags: ["--allow-unknown-fields"]
  },
  {
    name: "40k prompt with --max-prompt-chars 100000 (ok)",
    content: withLine(3, JSON.stringify({ prompt: "x".repeat(40_000), level: 1 })),
    flags: ["--max-prompt-chars", "100000"]
  },
  {
    name: "batch larger than the data with --allow-repeats (ok)",
    content: withLine(0, "", 3),
    flags: ["--batch-size", "4", "--allow-repeats"]
  },
  {
    name: "emoji and CJK prompts (ok)",
    content: withLine(2, JSON.stringify({ prompt: "\u{1F600} \u4e2d\u6587", level: 1 }))
  },
  // files that are not there
  { name: "missing file", content: Buffer.alloc(0), error: { patterns: ["a readable JSONL file"] } },
  { name: "a directory as --data", content: good, notAFile: true, error: { patterns: ["a readable JSONL file"] } }
]

export const cases: ReadonlyArray<FaultCase> = variants.map((v) => ({
  group: "dataset",
  name: v.name,
  run: async ({ dir, timeoutMs }) => {
    const file = join(dir, "train.jsonl")
    const missing = v.name === "missing file"
    if (!missing) writeFileSync(file, v.content)
    const flags = v.flags ?? []
    const batch = flags.includes("--batch-size") ? [] : ["--batch-size", "2"]
    const data = v.name === "a directory as --data" ? dir : missing ? join(dir, "nope.jsonl") : file
    const exit = await zpd(
      [
        "run",
        "sec",
        "--data",
        data,
        "--steps",
        "1",
        ...batch,
        "--group-size",
        "2",
        "--quiet",
        "--out",
        join(dir, "run"),
        ...flags
      ],
      { timeoutMs }
    )
    if (v.error === undefined) return expectOk(exit)
    const where = v.error.line === undefined
      ? (v.notAFile ? [] : [missing ? "nope.jsonl" : file])
      : [`${file}:${v.error.line}`]
    if (v.name === "a directory as --data") where.push(dir)
    return expectError(exit, [...where, ...v.error.patterns])
  }
}))
