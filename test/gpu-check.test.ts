/**
 * `npm run gpu:check` (bench/gpu-check.ts) on the CPU: the same script a CUDA machine runs,
 * here at a tiny size. It must finish, report both throughputs, and find the KL ≈ 0 right
 * after a reference reset (the script itself exits 1 otherwise).
 */
import { execFile } from "node:child_process"
import { join } from "node:path"
import process from "node:process"
import { expect, it } from "vitest"

/** Runs a command without blocking this test worker's event loop (vitest's RPC needs it). */
const runAsync = (file: string, args: ReadonlyArray<string>) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      file,
      args,
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr })
    )
  })

it("gpu:check runs on the CPU: tokens/s for sampling and training, KL ≈ 0 after resetReference", async () => {
  const tsx = join(process.cwd(), "node_modules", ".bin", "tsx")
  const steps = 2
  const r = await runAsync(tsx, [
    "bench/gpu-check.ts",
    "--device",
    "cpu",
    "--steps",
    String(steps),
    "--batch",
    "2",
    "--group",
    "2",
    "--max-tokens",
    "4"
  ])
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0)
  expect(r.stdout).toMatch(/sampling: \d+ completion tokens in [\d.]+ s = [\d.]+ tokens\/s/)
  expect(r.stdout).toMatch(/training: \d+ tokens .* = [\d.]+ tokens\/s/)
  expect(r.stdout).toContain("device cpu")
  const line = r.stdout.split("\n").find((l) => l.startsWith("GPU_CHECK "))
  expect(line).toBeDefined()
  const summary = JSON.parse(line!.slice("GPU_CHECK ".length))
  expect(summary.model).toMatch(/^hf:.*tiny-qwen3$/)
  expect(summary.sampleTokens).toBeGreaterThan(0)
  expect(summary.sampleTokensPerSecond).toBeGreaterThan(0)
  expect(summary.trainTokensPerSecond).toBeGreaterThan(0)
  expect(summary.policyVersion).toBe(steps + 1)
  expect(Math.abs(summary.klAfterReset)).toBeLessThanOrEqual(1e-3)
}, 300_000) // a liveness bound for a slow shared CPU, not a speed target
