import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatasetError } from "../src/Errors.ts"
import * as Problem from "../src/Problem.ts"

const fail = (file: string, text: string): DatasetError => {
  const result = Problem.parseJsonl(file, text)
  if (Either.isRight(result)) throw new Error(`expected a DatasetError, got ${JSON.stringify(result.right)}`)
  expect(result.left).toBeInstanceOf(DatasetError)
  expect(result.left._tag).toBe("DatasetError")
  return result.left
}

const ok = (file: string, text: string): Problem.Dataset => {
  const result = Problem.parseJsonl(file, text)
  if (Either.isLeft(result)) throw new Error(`expected a dataset, got ${result.left.message}`)
  return result.right
}

const good = (i: number) => JSON.stringify({ prompt: `p${i}`, level: 1 })

describe("Problem.parseJsonl errors", () => {
  it("a line without prompt names the file, the 1-based line (blank lines counted), the field and what is expected", () => {
    const text = [good(1), "", "   ", good(2), JSON.stringify({ level: 2, answer: "x" }), good(3)].join("\n")
    const error = fail("train.jsonl", text)
    expect(error.file).toBe("train.jsonl")
    expect(error.line).toBe(5)
    expect(error.field).toBe("prompt")
    expect(error.message).toContain("train.jsonl")
    expect(error.message).toContain("train.jsonl:5")
    expect(error.message).toContain("prompt")
    expect(error.message).toContain("a non-empty string")
    expect(error.message).toContain("missing")
  })

  it("an empty prompt names the field", () => {
    const error = fail("d.jsonl", JSON.stringify({ prompt: "", level: 1 }))
    expect(error.line).toBe(1)
    expect(error.field).toBe("prompt")
    expect(error.message).toContain("d.jsonl:1")
    expect(error.message).toContain("a non-empty string")
    expect(error.message).not.toContain("missing")
  })

  it("a non-integer level (2.5 and \"3\") names level and 'integer'", () => {
    for (const [level, shown] of [[2.5, "2.5"], ["3", "\"3\""]] as const) {
      const error = fail("levels.jsonl", [good(1), JSON.stringify({ prompt: "q", level })].join("\n"))
      expect(error.line).toBe(2)
      expect(error.field).toBe("level")
      expect(error.message).toContain("levels.jsonl:2")
      expect(error.message).toContain("level")
      expect(error.message).toContain("integer")
      expect(error.message).toContain(shown)
    }
  })

  it("a missing level is reported as missing", () => {
    const error = fail("x.jsonl", JSON.stringify({ prompt: "q" }))
    expect(error.field).toBe("level")
    expect(error.message).toContain("integer")
    expect(error.message).toContain("missing")
  })

  it("invalid JSON names the line", () => {
    const error = fail("bad.jsonl", [good(1), good(2), "", "{\"prompt\": \"p\", level: 1}"].join("\n"))
    expect(error.line).toBe(4)
    expect(error.message).toContain("bad.jsonl:4")
    expect(error.message).toContain("JSON")
  })

  it("a line that is JSON but not an object is rejected with its line", () => {
    for (const line of ["[1, 2]", "42", "\"prompt\"", "null"]) {
      const error = fail("arr.jsonl", [good(1), line].join("\n"))
      expect(error.line).toBe(2)
      expect(error.message).toContain("arr.jsonl:2")
      expect(error.message).toContain("a JSON object")
    }
  })

  it("a wrongly typed optional field is named", () => {
    const error = fail("m.jsonl", JSON.stringify({ prompt: "q", level: 1, metadata: { a: true } }))
    expect(error.field).toMatch(/^metadata/)
    expect(error.message).toContain("metadata")
    const family = fail("f.jsonl", JSON.stringify({ prompt: "q", level: 1, family: 3 }))
    expect(family.field).toBe("family")
  })

  it("accepts exactly what the record schema accepts, and refuses near misses by field", () => {
    const decodeSchema = Schema.decodeUnknownSync(Problem.ProblemRecord, { onExcessProperty: "ignore" })
    const accepted = [
      { prompt: "q", level: 1 },
      { id: 7, prompt: "q", answer: 3.5, level: -2, family: "f", metadata: { a: "x", b: 2 } },
      { id: "a", prompt: " q", answer: "", level: 0, metadata: {} }
    ]
    for (const record of accepted) {
      const decoded = Problem.decodeLine("ok.jsonl", 4, JSON.stringify(record))
      const r = decodeSchema(record)
      expect(decoded).toEqual(Either.right({
        id: r.id === undefined ? "ok.jsonl:4" : String(r.id),
        prompt: r.prompt,
        answer: r.answer === undefined ? "" : String(r.answer),
        level: r.level,
        family: r.family ?? "default",
        metadata: r.metadata ?? {}
      }))
    }
    const refused: Array<[Record<string, unknown>, string]> = [
      [{ id: 1.5, prompt: "q", level: 1 }, "id"],
      [{ id: true, prompt: "q", level: 1 }, "id"],
      [{ prompt: "q", level: 1, answer: null }, "answer"],
      [{ prompt: "q", level: 1, answer: [1] }, "answer"],
      [{ prompt: 5, level: 1 }, "prompt"],
      [{ prompt: "q", level: 2 ** 60 }, "level"],
      [{ prompt: "q", level: 1, family: null }, "family"],
      [{ prompt: "q", level: 1, metadata: null }, "metadata"],
      [{ prompt: "q", level: 1, metadata: [] }, "metadata"],
      [{ prompt: "q", level: 1, metadata: { a: { b: 1 } } }, "metadata"]
    ]
    for (const [record, field] of refused) {
      expect(fail("n.jsonl", JSON.stringify(record)).field?.split(".")[0]).toBe(field)
    }
  })

  it("an empty file (or one with only blank lines) is rejected", () => {
    for (const text of ["", "\n\n  \n"]) {
      const error = fail("empty.jsonl", text)
      expect(error.line).toBeUndefined()
      expect(error.message).toContain("empty.jsonl")
      expect(error.message).toContain("at least one problem")
    }
  })
})

describe("Problem.parseJsonl strictness (issue: bad input accepted silently)", () => {
  it("an unknown field (the `anwser` typo) names the field, the line and the nearest known field", () => {
    const error = fail("typo.jsonl", [good(1), JSON.stringify({ prompt: "1+1", anwser: "2", level: 1 })].join("\n"))
    expect(error.line).toBe(2)
    expect(error.field).toBe("anwser")
    expect(error.message).toContain("typo.jsonl:2")
    expect(error.message).toContain("did you mean \"answer\"")
    expect(error.message).toContain("--allow-unknown-fields")
    const far = fail("far.jsonl", JSON.stringify({ prompt: "q", level: 1, zzzzzzzzzz: 1 }))
    expect(far.message).not.toContain("did you mean")
    expect(far.message).toContain("prompt")
  })

  it("unknown fields are ignored only when explicitly allowed", () => {
    const text = JSON.stringify({ prompt: "1+1", anwser: "2", level: 1 })
    const result = Problem.parseJsonl("typo.jsonl", text, { allowUnknownFields: true })
    expect(Either.isRight(result) && result.right.problems[0]!.answer).toBe("")
  })

  it("duplicate ids are an error naming both lines, and 5 vs \"5\" collide", () => {
    for (const [a, b] of [["x", "x"], [5, "5"], [5, 5]] as const) {
      const text = [
        JSON.stringify({ id: a, prompt: "p", level: 1 }),
        good(2),
        JSON.stringify({ id: b, prompt: "q", level: 1 })
      ]
        .join("\n")
      const error = fail("dup.jsonl", text)
      expect(error.line).toBe(3)
      expect(error.field).toBe("id")
      expect(error.message).toContain("lines 1 and 3")
      expect(error.message).toContain("dup.jsonl:3")
    }
  })

  it("a whitespace-only prompt is an error naming the field", () => {
    for (const prompt of ["   ", "\t\n", "\u00a0", "\u200b\u200d", "\ufeff "]) {
      const error = fail("ws.jsonl", JSON.stringify({ prompt, level: 1 }))
      expect(error.field).toBe("prompt")
      expect(error.message).toContain("ws.jsonl:1")
      expect(error.message).toContain("visible characters")
    }
  })

  it("an over-long prompt is an error naming the limit; the limit is configurable", () => {
    const long = JSON.stringify({ prompt: "x".repeat(Problem.defaultMaxPromptChars + 1), level: 1 })
    const error = fail("long.jsonl", long)
    expect(error.field).toBe("prompt")
    expect(error.message).toContain(`at most ${Problem.defaultMaxPromptChars} characters`)
    expect(error.message).toContain("--max-prompt-chars")
    const tight = Problem.parseJsonl("t.jsonl", JSON.stringify({ prompt: "hello", level: 1 }), { maxPromptChars: 4 })
    expect(Either.isLeft(tight) && tight.left.message).toContain("at most 4 characters")
    const raised = Problem.parseJsonl("t.jsonl", long, { maxPromptChars: 10 ** 6 })
    expect(Either.isRight(raised)).toBe(true)
  })

  it("a lone surrogate escape in the prompt or answer is an error naming the field", () => {
    const error = fail("s.jsonl", "{\"prompt\":\"a\\ud800b\",\"level\":1}")
    expect(error.field).toBe("prompt")
    expect(error.message).toContain("well-formed Unicode")
    expect(fail("s.jsonl", "{\"prompt\":\"q\",\"answer\":\"\\udc00\",\"level\":1}").field).toBe("answer")
    expect(ok("ok.jsonl", JSON.stringify({ prompt: "emoji \u{1F600}", level: 1 })).problems).toHaveLength(1)
  })

  it("a leading byte-order mark is ignored", () => {
    expect(ok("bom.jsonl", "\uFEFF" + good(1)).problems).toHaveLength(1)
  })
})

describe("Problem.parseJsonl records", () => {
  it("applies defaults: id = file:line, family \"default\", answer \"\", metadata {}", () => {
    const ds = ok("set.jsonl", ["", JSON.stringify({ prompt: "2+2?", level: 3 }), good(2)].join("\n"))
    expect(ds.name).toBe("set.jsonl")
    expect(ds.problems).toHaveLength(2)
    expect(ds.problems[0]).toEqual({
      id: "set.jsonl:2",
      prompt: "2+2?",
      answer: "",
      level: 3,
      family: "default",
      metadata: {}
    })
    expect(ds.problems[1]!.id).toBe("set.jsonl:3")
  })

  it("numeric answer and id become strings; extra keys are ignored when allowed; CRLF is tolerated", () => {
    const line = JSON.stringify({
      id: 17,
      prompt: "q",
      answer: 42,
      level: 2,
      family: "countdown",
      metadata: { source: "x", n: 3 },
      extra: true
    })
    const text = line + "\r\n" + JSON.stringify({ prompt: "r", answer: 0.5, level: 1, id: "abc" }) + "\r\n"
    const result = Problem.parseJsonl("n.jsonl", text, { allowUnknownFields: true })
    if (Either.isLeft(result)) throw new Error(result.left.message)
    const ds = result.right
    expect(ds.problems[0]).toEqual({
      id: "17",
      prompt: "q",
      answer: "42",
      level: 2,
      family: "countdown",
      metadata: { source: "x", n: 3 }
    })
    expect(ds.problems[1]!.answer).toBe("0.5")
    expect(ds.problems[1]!.id).toBe("abc")
  })

  it("round-trips through toJsonl", () => {
    const ds = ok("a.jsonl", [good(1), JSON.stringify({ prompt: "z", level: 4, metadata: { k: "v" } })].join("\n"))
    const again = ok("b.jsonl", Problem.toJsonl(ds.problems))
    expect(again.problems).toEqual(ds.problems)
  })
})

describe("Problem.fromJsonl", () => {
  it.effect("loads a real file", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "zpd-problem-"))
      try {
        const file = join(dir, "train.jsonl")
        writeFileSync(file, [good(1), "", JSON.stringify({ prompt: "p", level: 2, family: "arith" })].join("\n") + "\n")
        const ds = yield* Problem.fromJsonl(file)
        expect(ds.name).toBe(file)
        expect(ds.problems.map((p) => p.id)).toEqual([`${file}:1`, `${file}:3`])
        expect(ds.problems[1]!.family).toBe("arith")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a bad record in a real file names the file and line", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "zpd-problem-"))
      try {
        const file = join(dir, "bad.jsonl")
        writeFileSync(file, [good(1), "", "", JSON.stringify({ level: 1 })].join("\n"))
        const error = yield* Effect.flip(Problem.fromJsonl(file))
        expect(error).toBeInstanceOf(DatasetError)
        expect(error.message).toContain(`${file}:4`)
        expect(error.message).toContain("prompt")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("invalid UTF-8 is an error naming the file and line, not replaced silently", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "zpd-problem-"))
      try {
        const file = join(dir, "latin1.jsonl")
        const bad = Buffer.concat([
          Buffer.from(good(1) + "\n" + good(2) + "\n{\"prompt\":\"caf"),
          Buffer.from([0xe9]),
          Buffer.from("\",\"level\":1}\n")
        ])
        writeFileSync(file, bad)
        const error = yield* Effect.flip(Problem.fromJsonl(file))
        expect(error.line).toBe(3)
        expect(error.message).toContain(`${file}:3`)
        expect(error.message).toContain("UTF-8")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a missing file fails with a DatasetError naming the path", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "zpd-problem-"))
      try {
        const file = join(dir, "nope.jsonl")
        const error = yield* Effect.flip(Problem.fromJsonl(file))
        expect(error).toBeInstanceOf(DatasetError)
        expect(error.file).toBe(file)
        expect(error.line).toBeUndefined()
        expect(error.message).toContain(file)
        expect(error.message).toContain("a readable JSONL file")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("Problem helpers", () => {
  const p: Problem.Problem = {
    id: "p-1",
    prompt: "q",
    answer: "a",
    level: 3,
    family: "countdown",
    metadata: { source: "gsm", digits: 4 }
  }

  it("feature reads level, family, id and metadata keys", () => {
    expect(Problem.feature(p, "level")).toBe(3)
    expect(Problem.feature(p, "difficulty")).toBe(3)
    expect(Problem.feature(p, "family")).toBe("countdown")
    expect(Problem.feature(p, "type")).toBe("countdown")
    expect(Problem.feature(p, "id")).toBe("p-1")
    expect(Problem.feature(p, "source")).toBe("gsm")
    expect(Problem.feature(p, "digits")).toBe(4)
    expect(Problem.feature(p, "absent")).toBeUndefined()
  })

  it("levels are distinct and ascending; filter keeps matching problems", () => {
    const ds = Problem.make("d", [
      { ...p, id: "a", level: 10 },
      { ...p, id: "b", level: 2 },
      { ...p, id: "c", level: 10 },
      { ...p, id: "d", level: 1 }
    ])
    expect(Problem.levels(ds)).toEqual([1, 2, 10])
    const hard = Problem.filter(ds, "hard", (q) => q.level > 5)
    expect(hard.name).toBe("hard")
    expect(hard.problems.map((q) => q.id)).toEqual(["a", "c"])
  })
})
