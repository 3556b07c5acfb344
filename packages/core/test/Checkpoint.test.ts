import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Checkpoint from "../src/Checkpoint.ts"
import * as Columns from "../src/Columns.ts"
import { CheckpointError } from "../src/Errors.ts"

const withTempDir = <A, E, R>(f: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "zpd-checkpoint-"))),
    f,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const sample = (step: number): Checkpoint.Checkpoint => ({
  format: "zpd-checkpoint/2",
  step,
  identity: {
    seed: 7,
    curriculum: "{\"plugin\":\"cur\"}",
    pipeline: "p",
    dataset: { name: "ds", size: 10, hash: "ab" },
    batchSize: 4,
    groupSize: 2,
    settings: "{}"
  },
  metrics: "cd",
  curriculum: {
    cursor: 3,
    column: Schema.encodeSync(Columns.Float64Column)(Float64Array.from([-0, 0.1, Number.NaN]))
  },
  trainer: { _tag: "Inline", state: { calls: step } }
})

describe("Checkpoint", () => {
  it.effect("write then read returns equal data", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const checkpoint = sample(5)
        yield* Checkpoint.write(dir, checkpoint)
        expect(existsSync(Checkpoint.fileIn(dir))).toBe(true)
        expect(Checkpoint.fileIn(dir)).toBe(`${dir}/checkpoint/state.json`)
        const back = yield* Checkpoint.read(dir)
        expect(back).toEqual(checkpoint)
        const column = Schema.decodeUnknownSync(Columns.Float64Column)((back.curriculum as { column: string }).column)
        expect(Object.is(column[0], -0)).toBe(true)
        expect(Number.isNaN(column[2])).toBe(true)
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a Path trainer checkpoint and a null trainer round-trip", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const withPath: Checkpoint.Checkpoint = { ...sample(1), trainer: { _tag: "Path", path: "/ckpt/step-1" } }
        yield* Checkpoint.write(dir, withPath)
        expect(yield* Checkpoint.read(dir)).toEqual(withPath)
        const none: Checkpoint.Checkpoint = { ...sample(2), trainer: null }
        yield* Checkpoint.write(dir, none)
        expect(yield* Checkpoint.read(dir)).toEqual(none)
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("no .tmp file remains after a write", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        yield* Checkpoint.write(dir, sample(1))
        yield* Checkpoint.write(dir, sample(2))
        const files = readdirSync(join(dir, "checkpoint"))
        expect(files).toEqual(["state.json"])
        expect(files.some((f) => f.endsWith(".tmp"))).toBe(false)
        expect((yield* Checkpoint.read(dir)).step).toBe(2)
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a corrupt state.json fails with a CheckpointError naming the path", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        mkdirSync(join(dir, "checkpoint"))
        const path = join(dir, "checkpoint", "state.json")
        writeFileSync(path, "{\"format\": \"zpd-checkpoint/1\", \"step\": ")
        const notJson = yield* Effect.flip(Checkpoint.read(dir))
        expect(notJson).toBeInstanceOf(CheckpointError)
        expect(notJson.path).toBe(path)
        expect(notJson.message).toContain(path)
        expect(notJson.message).toContain("not JSON")

        writeFileSync(path, JSON.stringify({ ...sample(1), step: 1.5 }))
        const invalid = yield* Effect.flip(Checkpoint.read(dir))
        expect(invalid).toBeInstanceOf(CheckpointError)
        expect(invalid.message).toContain(path)
        expect(invalid.message).toContain("invalid checkpoint")
        expect(invalid.message).toContain("step")

        writeFileSync(path, JSON.stringify({ ...sample(1), format: "zpd-checkpoint/0" }))
        const format = yield* Effect.flip(Checkpoint.read(dir))
        expect(format.message).toContain("format")
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a flipped byte in the state fails the checksum, naming the file", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        yield* Checkpoint.write(dir, sample(3))
        const path = Checkpoint.fileIn(dir)
        const text = readFileSync(path, "utf8")
        expect(JSON.parse(text).checksum).toMatch(/^[0-9a-f]{64}$/)
        writeFileSync(path, text.replace("\"cursor\":3", "\"cursor\":4"))
        const error = yield* Effect.flip(Checkpoint.read(dir))
        expect(error).toBeInstanceOf(CheckpointError)
        expect(error.message).toContain(path)
        expect(error.message).toContain("checksum mismatch")
        writeFileSync(path, text.replace(/"checksum":"[0-9a-f]+"/, "\"checksum\":\"00\""))
        expect((yield* Effect.flip(Checkpoint.read(dir))).message).toContain("checksum mismatch")
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a format-1 checkpoint (no run identity) is refused with a hint", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        mkdirSync(join(dir, "checkpoint"))
        writeFileSync(Checkpoint.fileIn(dir), JSON.stringify({ format: "zpd-checkpoint/1", step: 3, seed: 1 }))
        const error = yield* Effect.flip(Checkpoint.read(dir))
        expect(error.message).toContain("zpd-checkpoint/1")
        expect(error.message).toContain("--overwrite")
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a negative step is refused", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        mkdirSync(join(dir, "checkpoint"))
        writeFileSync(Checkpoint.fileIn(dir), JSON.stringify({ ...sample(1), step: -5, checksum: "00" }))
        const error = yield* Effect.flip(Checkpoint.read(dir))
        expect(error.message).toContain("invalid checkpoint")
        expect(error.message).toContain("step")
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a missing directory fails with a CheckpointError", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const missing = join(dir, "does-not-exist")
        const error = yield* Effect.flip(Checkpoint.read(missing))
        expect(error).toBeInstanceOf(CheckpointError)
        expect(error.path).toBe(Checkpoint.fileIn(missing))
        expect(error.message).toContain(missing)
        expect(error.message).toContain("no checkpoint")
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("writeAtomic creates parent directories and replaces an existing file", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "a", "b", "file.txt")
        yield* Checkpoint.writeAtomic(path, "first, and longer than the second\n")
        expect(readFileSync(path, "utf8")).toBe("first, and longer than the second\n")
        yield* Checkpoint.writeAtomic(path, "second\n")
        expect(readFileSync(path, "utf8")).toBe("second\n")
        expect(readdirSync(join(dir, "a", "b"))).toEqual(["file.txt"])
        yield* Checkpoint.writeAtomic(path, "")
        expect(readFileSync(path, "utf8")).toBe("")
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("writeAtomic into an unwritable location fails with a CheckpointError naming the path", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const blocker = join(dir, "file")
        writeFileSync(blocker, "x")
        const path = join(blocker, "sub", "state.json")
        const error = yield* Effect.flip(Checkpoint.writeAtomic(path, "{}"))
        expect(error).toBeInstanceOf(CheckpointError)
        expect(error.path).toBe(path)
        expect(error.message).toContain("write failed")
      })
    ).pipe(Effect.provide(NodeContext.layer)))
})
