import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { resolvePython } from "../../../test/python.ts"
import { crc32c, masked } from "../src/Crc32c.ts"
import * as TensorBoard from "../src/TensorBoard.ts"
import { frame, unframe } from "../src/TfRecord.ts"

const ascii = (s: string) => new TextEncoder().encode(s)

const readWithTensorBoard = (python: string, dir: string) => {
  const script = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))
`
  return JSON.parse(execFileSync(python, ["-c", script, dir], { encoding: "utf8" })) as Record<
    string,
    Array<[number, number]>
  >
}

const run = <A, E>(effect: Effect.Effect<A, E, NodeContext.NodeContext>) =>
  Effect.runPromise(Effect.provide(effect, NodeContext.layer))

describe("CRC-32C and TFRecord framing", () => {
  it("matches the standard check values", () => {
    expect(crc32c(ascii("123456789"))).toBe(0xe3069283)
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa) // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43)
    expect(masked(0)).toBe(0xa282ead8)
  })

  it("round-trips records and names the byte offset of a corrupted one", () => {
    const a = frame(ascii("first"))
    const b = frame(ascii("second record"))
    const both = new Uint8Array([...a, ...b])
    expect(unframe(both).map((r) => new TextDecoder().decode(r))).toEqual(["first", "second record"])
    both[a.length + 14] = both[a.length + 14]! ^ 1
    expect(() => unframe(both)).toThrow(`bad data checksum at byte ${a.length}`)
  })
})

describe("TensorBoard event files", () => {
  const python = resolvePython()

  it("are read back by TensorBoard's EventAccumulator with every scalar and step", async () => {
    expect(python, "no Python with tensorboard: set ZPD_PYTHON").toBeDefined()
    const dir = mkdtempSync(join(tmpdir(), "zpd-tb-"))
    const records = [
      { step: 1, reward_mean: 0.25, frac_reward_zero_std: 0.5 },
      { step: 2, reward_mean: 0.5, frac_reward_zero_std: 0.125, acc_ood: 0.3 },
      { step: 3, reward_mean: 0.75, frac_reward_zero_std: Number.NaN, kl_mean: 1e-7 }
    ]
    await run(TensorBoard.fromRecords(dir, records))
    const files = readdirSync(dir)
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/^events\.out\.tfevents\.\d+\.zpd\.0000$/)
    expect(unframe(new Uint8Array(readFileSync(join(dir, files[0]!))))).toHaveLength(5) // version, session start, 3 steps
    const scalars = readWithTensorBoard(python!, dir)
    expect(Object.keys(scalars).sort()).toEqual(["acc_ood", "frac_reward_zero_std", "kl_mean", "reward_mean"])
    expect(scalars["reward_mean"]).toEqual([[1, 0.25], [2, 0.5], [3, 0.75]])
    expect(scalars["frac_reward_zero_std"]).toEqual([[1, 0.5], [2, 0.125]]) // NaN is skipped
    expect(scalars["acc_ood"]![0]![1]).toBeCloseTo(0.3, 6) // float32
    expect(scalars["kl_mean"]![0]![1]).toBeCloseTo(1e-7, 12)
  })

  it("a resumed run's second file replaces the orphaned steps in TensorBoard", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zpd-tb-resume-"))
    await run(TensorBoard.fromRecords(dir, [1, 2, 3, 4].map((step) => ({ step, loss: step }))))
    await run(TensorBoard.fromRecords(dir, [3, 4, 5].map((step) => ({ step, loss: 10 * step }))))
    expect(readdirSync(dir).sort()[1]).toMatch(/\.zpd\.0001$/)
    expect(readWithTensorBoard(python!, dir)["loss"]).toEqual([[1, 1], [2, 2], [3, 30], [4, 40], [5, 50]])
  })
})
