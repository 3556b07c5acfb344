/**
 * The hybrid examples (one expression each) and the custom prioritized
 * sampler: each runs through the CLI, resumes exactly from its step-10
 * checkpoint, and writes the same metrics.jsonl under Deno as under Node.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { execFileAsync, tempDir } from "./helpers.ts"

const bin = (name: string) => join(process.cwd(), "node_modules", ".bin", name)
const read = (dir: string, file = "metrics.jsonl") => readFileSync(join(dir, file), "utf8")
const node = (file: string, ...argv: Array<string>) =>
  execFileAsync(bin("tsx"), [`examples/${file}`, ...argv, "--quiet"])

const hybrids: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["hybrid-adacurl-sec.ts", ["bucket", "competence", "sec_q_1", "sec_p_1"]],
  ["hybrid-adacurl-cdas.ts", ["bucket", "adacurl_competence", "cdas_competence", "cdas_rated_fraction"]],
  ["hybrid-pcl-sec.ts", ["value_loss", "pcl_pool_size", "sec_q_1", "sec_p_3"]],
  ["hybrid-pcl-cdas.ts", ["value_loss", "pcl_pool_size", "competence", "cdas_warmup"]],
  ["sec-estimated-arms.ts", ["estimation_rollouts", "sec_q_1", "sec_q_3"]],
  ["prioritized.ts", ["bucket", "competence", "prioritized_weight_mean"]],
  ["hybrid-pcl-prioritized.ts", ["value_loss", "pcl_pool_size", "prioritized_weight_mean"]],
  ["filter-sec.ts", ["rollouts_generated", "rollouts_discarded", "gen_rounds", "sec_q_1"]],
  ["offline-filter-cdas.ts", ["estimation_rollouts", "offline_filter_kept", "competence", "cdas_warmup"]],
  ["hybrid-adacurl-adarft.ts", ["bucket", "competence", "adarft_target", "adarft_reward_mean"]],
  ["greso-sec.ts", ["greso_p_easy", "greso_skipped_easy", "greso_forced", "sec_q_1"]],
  ["dump-filter.ts", ["dump_w_arithmetic", "dump_mu_countdown", "rollouts_generated", "rollouts_discarded"]],
  ["speed-cdas.ts", ["rollouts_generated", "rollouts_discarded", "gen_rounds", "competence"]]
]

describe("hybrid examples", () => {
  for (const [file, keys] of hybrids) {
    it(`${file} resumes exactly and writes the same bytes under Deno`, async () => {
      const full = tempDir(`${file}-full`)
      const part = tempDir(`${file}-part`)
      // k = 10: the examples evaluate every 10 steps and at the last one.
      await node(file, "--steps", "20", "--seed", "3", "--out", full)
      await node(file, "--steps", "10", "--seed", "3", "--out", part)
      await node(file, "--steps", "20", "--resume", part)
      const records = read(full).trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>)
      expect(records.map((r) => r["step"])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      for (const key of keys) expect(records[19], key).toHaveProperty(key)
      expect(read(part)).toBe(read(full))
      expect(read(part, "checkpoint/state.json")).toBe(read(full, "checkpoint/state.json"))
      if (existsSync(bin("deno"))) {
        const deno = tempDir(`${file}-deno`)
        await execFileAsync(bin("deno"), [
          "run",
          "-A",
          `examples/${file}`,
          "--steps",
          "20",
          "--seed",
          "3",
          "--quiet",
          "--out",
          deno
        ])
        expect(read(deno)).toBe(read(full))
      }
    })
  }

  it("the hybrids differ from the curricula they combine (the composition is live)", async () => {
    const a = tempDir("hyb-adacurl")
    const b = tempDir("hyb-adacurl-sec")
    await node("adacurl.ts", "--steps", "6", "--seed", "3", "--out", a)
    await node("hybrid-adacurl-sec.ts", "--steps", "6", "--seed", "3", "--out", b)
    expect(read(b)).not.toBe(read(a))
  })
})
