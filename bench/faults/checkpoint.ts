/**
 * Checkpoint and resume faults: stale checkpoints, runs spliced in one
 * directory, identity mismatches, tampered or truncated state, missing or
 * foreign metrics, step bounds, and the resumes that must reproduce the
 * uninterrupted run byte for byte. Every case drives `zpd run` as child
 * processes (a SIGKILL where the case says "killed").
 */
import { createHash } from "node:crypto"
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type Exit, expectError, expectOk, type FaultCase, type Result, zpd } from "./Case.ts"

const small = ["--batch-size", "8", "--group-size", "2", "--quiet"]

interface Run {
  readonly curriculum?: string
  readonly steps: number
  readonly seed?: number
  readonly out?: string
  readonly resume?: string
  readonly extra?: ReadonlyArray<string>
  readonly killAtLine?: number
}

/** `defaults` (flag, value pairs and switches) minus the flags that `extra` sets itself. */
const withoutOverridden = (defaults: ReadonlyArray<string>, extra: ReadonlyArray<string>) => {
  const kept: Array<string> = []
  for (let i = 0; i < defaults.length; i++) {
    const flag = defaults[i]!
    const value = defaults[i + 1]
    const hasValue = value !== undefined && !value.startsWith("--")
    if (!extra.includes(flag)) kept.push(flag, ...(hasValue ? [value] : []))
    if (hasValue) i++
  }
  return kept
}

const run = (r: Run, timeoutMs: number): Promise<Exit> =>
  zpd(
    [
      "run",
      r.curriculum ?? "sec",
      "--steps",
      String(r.steps),
      ...(r.seed === undefined ? [] : ["--seed", String(r.seed)]),
      ...(r.out === undefined ? [] : ["--out", r.out]),
      ...(r.resume === undefined ? [] : ["--resume", r.resume]),
      ...withoutOverridden(small, r.extra ?? []),
      ...(r.extra ?? [])
    ],
    {
      timeoutMs,
      ...(r.killAtLine === undefined
        ? {}
        : { killAt: { file: join(r.out ?? r.resume!, "metrics.jsonl"), lines: r.killAtLine } })
    }
  )

const state = (dir: string) => join(dir, "checkpoint", "state.json")
const metrics = (dir: string) => join(dir, "metrics.jsonl")
const read = (path: string) => readFileSync(path, "utf8")

/** Rewrites the checkpoint through `edit` and re-signs it, as a tool (or attacker) that knows the format would. */
const resign = (dir: string, edit: (json: Record<string, any>) => void) => {
  const json = JSON.parse(read(state(dir)))
  delete json.checksum
  edit(json)
  const body = JSON.stringify(json)
  const checksum = createHash("sha256").update(body).digest("hex")
  writeFileSync(state(dir), `${body.slice(0, -1)},"checksum":"${checksum}"}`)
}

const fail = (exit: Exit | Result, ...patterns: ReadonlyArray<string | RegExp>): Result =>
  "outcome" in exit ? exit : expectError(exit, patterns)

/** A case: `prepare` runs the setup (returning a Result short-circuits on a setup failure), then `act` is classified. */
interface CheckpointCase {
  readonly name: string
  readonly run: (dir: string, timeoutMs: number) => Promise<Result>
}

const setupFailed = (exit: Exit): Result | undefined =>
  exit.status === 0
    ? undefined
    : { outcome: "unclear", detail: `setup run failed: ${exit.stderr.trim().slice(0, 160)}` }

/** A finished 4-step sec run (seed 1, checkpoint every 2) in `dir/base`. */
const base = async (dir: string, timeoutMs: number, extra: ReadonlyArray<string> = []) => {
  const out = join(dir, "base")
  const exit = await run({ steps: 4, seed: 1, out, extra: ["--checkpoint-every", "2", ...extra] }, timeoutMs)
  return { out, failed: setupFailed(exit) }
}

/** `base`, then `mutate`, then a resume to step 6 that must fail with `patterns`. */
const tampered = (
  name: string,
  mutate: (out: string, dir: string) => void,
  patterns: (out: string) => ReadonlyArray<string | RegExp>,
  resume: Partial<Run> = {}
): CheckpointCase => ({
  name,
  run: async (dir, timeoutMs) => {
    const { failed, out } = await base(dir, timeoutMs)
    if (failed) return failed
    mutate(out, dir)
    return fail(await run({ steps: 6, resume: out, ...resume }, timeoutMs), ...patterns(out))
  }
})

/** `base` to step `k`, then resumed to `n`, must equal an uninterrupted run to `n`. */
const identical = (
  name: string,
  k: number,
  n: number,
  options: { readonly kill?: boolean; readonly extra?: ReadonlyArray<string>; readonly curriculum?: string } = {}
): CheckpointCase => ({
  name,
  run: async (dir, timeoutMs) => {
    const full = join(dir, "full")
    const part = join(dir, "part")
    const curriculum = options.curriculum ?? "sec"
    const extra = options.extra ?? []
    const a = await run({ curriculum, steps: n, seed: 3, out: full, extra }, timeoutMs)
    if (setupFailed(a)) return setupFailed(a)!
    const b = options.kill
      ? await run({ curriculum, steps: n, seed: 3, out: part, extra, killAtLine: k }, timeoutMs)
      : await run({ curriculum, steps: k, seed: 3, out: part, extra }, timeoutMs)
    if (!options.kill && setupFailed(b)) return setupFailed(b)!
    if (b.timedOut) return { outcome: "hang", detail: "first part did not finish" }
    const c = await run({ curriculum, steps: n, resume: part, extra }, timeoutMs)
    return expectOk(
      c,
      () => (read(metrics(part)) === read(metrics(full))
        ? undefined
        : `metrics.jsonl differs from the uninterrupted run`)
    )
  }
})

const list: ReadonlyArray<CheckpointCase> = [
  {
    name: "stale sequence: seed-2 run into a seed-1 run's directory",
    run: async (dir, t) => {
      const out = join(dir, "D")
      const a = await run({ steps: 20, seed: 1, out }, t)
      if (setupFailed(a)) return setupFailed(a)!
      return fail(await run({ steps: 30, seed: 2, out }, t), "--out", "--overwrite", "checkpoint")
    }
  },
  {
    name: "stale sequence with --overwrite, killed after 5 steps, then --resume",
    run: async (dir, t) => {
      const out = join(dir, "D")
      const a = await run({ steps: 20, seed: 1, out }, t)
      if (setupFailed(a)) return setupFailed(a)!
      // Killed after 5 steps, before its first checkpoint (every 25 here, so a late kill still finds none).
      await run({ steps: 30, seed: 2, out, extra: ["--overwrite", "--checkpoint-every", "25"], killAtLine: 5 }, t)
      return fail(await run({ steps: 30, resume: out }, t), "state.json", "no checkpoint")
    }
  },
  {
    name: "stale checkpoint restored beside a newer run's metrics",
    run: async (dir, t) => {
      const out = join(dir, "D")
      const a = await run({ steps: 20, seed: 1, out }, t)
      if (setupFailed(a)) return setupFailed(a)!
      cpSync(join(out, "checkpoint"), join(dir, "saved"), { recursive: true })
      await run({ steps: 30, seed: 2, out, extra: ["--overwrite", "--checkpoint-every", "25"], killAtLine: 5 }, t)
      cpSync(join(dir, "saved"), join(out, "checkpoint"), { recursive: true })
      return fail(await run({ steps: 30, resume: out }, t), "metrics.jsonl", /should hold step|digest/)
    }
  },
  {
    name: "another run's complete metrics under this checkpoint",
    run: async (dir, t) => {
      const { failed, out } = await base(dir, t)
      if (failed) return failed
      const other = join(dir, "other")
      const b = await run({ steps: 4, seed: 2, out: other }, t)
      if (setupFailed(b)) return setupFailed(b)!
      writeFileSync(metrics(out), read(metrics(other)))
      return fail(await run({ steps: 6, resume: out }, t), "metrics.jsonl", "another run")
    }
  },
  tampered("resume with another --seed", () => {}, () => ["--seed", "seed", "1"], { seed: 2 }),
  tampered("resume with another --batch-size", () => {}, () => ["--batch-size", "8"], { extra: ["--batch-size", "4"] }),
  tampered("resume with another --group-size", () => {}, () => ["--group-size", "2"], { extra: ["--group-size", "4"] }),
  tampered("resume into another curriculum (sec → random)", () => {}, () => ["curriculum", "sec"], {
    curriculum: "random"
  }),
  tampered("resume into cdas", () => {}, () => ["curriculum"], { curriculum: "cdas" }),
  tampered("resume with --allow-repeats toggled", () => {}, () => ["settings", "allowRepeats"], {
    extra: ["--allow-repeats"]
  }),
  {
    name: "sec example checkpoint into sec-estimated-arms (both say sec)",
    run: async (dir, t) => {
      const { runTs } = await import("./Case.ts")
      const out = join(dir, "sec")
      const a = await runTs("examples/sec.ts", ["--steps", "2", "--out", out, ...small], { timeoutMs: t })
      if (setupFailed(a)) return setupFailed(a)!
      return fail(
        await runTs("examples/sec-estimated-arms.ts", ["--steps", "4", "--resume", out, ...small], { timeoutMs: t }),
        "curriculum",
        "sec-estimated"
      )
    }
  },
  {
    name: "changed dataset content under the same path",
    run: async (dir, t) => {
      const data = join(dir, "train.jsonl")
      const rows = (answer: (i: number) => string) =>
        Array.from(
          { length: 30 },
          (_, i) => JSON.stringify({ id: i, prompt: `${i}+${i}?`, answer: answer(i), level: 1 + (i % 3) })
        ).join("\n")
      writeFileSync(data, rows((i) => String(2 * i)))
      const out = join(dir, "D")
      const a = await run({ steps: 2, seed: 1, out, extra: ["--data", data] }, t)
      if (setupFailed(a)) return setupFailed(a)!
      writeFileSync(data, rows((i) => String(2 * i + 1)))
      return fail(await run({ steps: 4, resume: out, extra: ["--data", data] }, t), "dataset", "sha256")
    }
  },
  {
    name: "same dataset under another path resumes (ok)",
    run: async (dir, t) => {
      const data = join(dir, "train.jsonl")
      writeFileSync(
        data,
        Array.from(
          { length: 30 },
          (_, i) => JSON.stringify({ id: i, prompt: `${i}+${i}?`, answer: String(2 * i), level: 1 + (i % 3) })
        ).join("\n")
      )
      const out = join(dir, "D")
      const a = await run({ steps: 2, seed: 1, out, extra: ["--data", data] }, t)
      if (setupFailed(a)) return setupFailed(a)!
      mkdirSync(join(dir, "moved"))
      cpSync(data, join(dir, "moved", "copy.jsonl"))
      const b = await run({ steps: 4, resume: out, extra: ["--data", `${dir}/./moved/../moved/copy.jsonl`] }, t)
      return expectOk(b, () => (read(metrics(out)).trim().split("\n").length === 4 ? undefined : "expected 4 lines"))
    }
  },
  tampered("resume with --steps below the checkpoint", () => {}, () => ["--steps", "checkpoint's step 4"], {
    steps: 2
  }),
  {
    name: "resume with --steps equal to the checkpoint (ok, nothing to run)",
    run: async (dir, t) => {
      const { failed, out } = await base(dir, t)
      if (failed) return failed
      const before = read(metrics(out))
      return expectOk(
        await run({ steps: 4, resume: out }, t),
        () => (read(metrics(out)) === before ? undefined : "metrics changed")
      )
    }
  },
  tampered(
    "checkpoint step -5 (re-signed)",
    (out) => resign(out, (j) => (j.step = -5)),
    (out) => [state(out), "step", "non-negative"]
  ),
  tampered(
    "checkpoint step -5 (not re-signed)",
    (out) => writeFileSync(state(out), read(state(out)).replace("\"step\":4", "\"step\":-5")),
    (out) => [state(out), "non-negative"]
  ),
  tampered(
    "checkpoint step 1000 (re-signed), --steps 6",
    (out) => resign(out, (j) => (j.step = 1000)),
    () => ["--steps", "checkpoint's step 1000"]
  ),
  tampered(
    "checkpoint step 1000 (re-signed), --steps 2000",
    (out) => resign(out, (j) => (j.step = 1000)),
    (out) => [metrics(out), "line 5 should hold step 5"],
    { steps: 2000 }
  ),
  tampered(
    "checkpoint step 3 (re-signed) against 4 lines",
    (out) => resign(out, (j) => (j.step = 3)),
    (out) => [metrics(out), "digest"]
  ),
  tampered("flipped digit in the curriculum state", (out) => {
    const text = read(state(out))
    const at = text.indexOf("\"curriculum\":") + 40
    const digit = text.slice(at).search(/[0-9]/) + at
    writeFileSync(state(out), text.slice(0, digit) + String((Number(text[digit]) + 1) % 10) + text.slice(digit + 1))
  }, (out) => [state(out), "checksum mismatch"]),
  tampered(
    "flipped letter in the identity",
    (out) => writeFileSync(state(out), read(state(out)).replace("\"pipeline\":\"sec\"", "\"pipeline\":\"sed\"")),
    (out) => [state(out), "checksum mismatch"]
  ),
  tampered(
    "truncated state.json",
    (out) => writeFileSync(state(out), read(state(out)).slice(0, 200)),
    (out) => [state(out), "not JSON"]
  ),
  tampered("empty state.json", (out) => writeFileSync(state(out), ""), (out) => [state(out), "not JSON"]),
  tampered("state.json replaced by a directory", (out) => {
    rmSync(state(out))
    mkdirSync(state(out))
  }, (out) => [state(out)]),
  tampered(
    "format-1 checkpoint from an older zpd",
    (out) => writeFileSync(state(out), JSON.stringify({ format: "zpd-checkpoint/1", step: 4, seed: 1 })),
    (out) => [state(out), "zpd-checkpoint/1", "--overwrite"]
  ),
  tampered(
    "checksum field removed",
    (out) => writeFileSync(state(out), read(state(out)).replace(/,"checksum":"[0-9a-f]+"/, "")),
    (out) => [state(out), "checksum"]
  ),
  tampered(
    "identity removed (re-signed)",
    (out) => resign(out, (j) => delete j.identity),
    (out) => [state(out), "identity"]
  ),
  tampered(
    "curriculum state emptied (re-signed)",
    (out) => resign(out, (j) => (j.curriculum = {})),
    () => ["curriculum \"sec\"", "does not decode"]
  ),
  tampered(
    "trainer state emptied (re-signed)",
    (out) => resign(out, (j) => (j.trainer = { _tag: "Inline", state: {} })),
    () => [/trainer|restore|simulat/i]
  ),
  tampered("metrics.jsonl missing", (out) => rmSync(metrics(out)), (out) => [metrics(out), "missing"]),
  tampered(
    "metrics.jsonl empty",
    (out) => writeFileSync(metrics(out), ""),
    (out) => [metrics(out), "line 1 should hold step 1"]
  ),
  tampered(
    "metrics.jsonl cut to 2 of 4 lines",
    (out) => writeFileSync(metrics(out), read(metrics(out)).split("\n").slice(0, 2).join("\n") + "\n"),
    (out) => [metrics(out), "line 3 should hold step 3"]
  ),
  tampered("metrics.jsonl line 2 edited", (out) => {
    const lines = read(metrics(out)).split("\n")
    lines[1] = lines[1]!.replace(/"reward_mean":[0-9.]+/, "\"reward_mean\":0.999")
    writeFileSync(metrics(out), lines.join("\n"))
  }, (out) => [metrics(out), "digest"]),
  tampered("metrics.jsonl lines swapped", (out) => {
    const lines = read(metrics(out)).split("\n")
    ;[lines[0], lines[1]] = [lines[1]!, lines[0]!]
    writeFileSync(metrics(out), lines.join("\n"))
  }, (out) => [metrics(out), "line 1 should hold step 1"]),
  tampered(
    "--resume of a directory without a checkpoint",
    (out) => rmSync(join(out, "checkpoint"), { recursive: true }),
    (out) => [state(out), "no checkpoint"]
  ),
  {
    name: "a torn line after the checkpoint is dropped (ok)",
    run: async (dir, t) => {
      const { failed, out } = await base(dir, t)
      if (failed) return failed
      writeFileSync(metrics(out), read(metrics(out)) + "{\"step\":5,\"reward")
      return expectOk(
        await run({ steps: 6, resume: out }, t),
        () => (read(metrics(out)).trim().split("\n").length === 6 ? undefined : "expected 6 lines")
      )
    }
  },
  {
    name: "timings.jsonl missing (ok)",
    run: async (dir, t) => {
      const { failed, out } = await base(dir, t)
      if (failed) return failed
      rmSync(join(out, "timings.jsonl"))
      return expectOk(await run({ steps: 6, resume: out }, t))
    }
  },
  {
    name: "a leftover state.json.tmp from a crash mid-write (ok)",
    run: async (dir, t) => {
      const { failed, out } = await base(dir, t)
      if (failed) return failed
      writeFileSync(`${state(out)}.tmp`, "{\"format\":\"zpd-ch")
      return expectOk(await run({ steps: 6, resume: out }, t))
    }
  },
  {
    name: "fresh run into a directory with a checkpoint",
    run: async (dir, t) => {
      const { failed, out } = await base(dir, t)
      if (failed) return failed
      return fail(await run({ steps: 4, seed: 1, out }, t), "--out", "--overwrite")
    }
  },
  {
    name: "fresh run with --overwrite starts clean (ok)",
    run: async (dir, t) => {
      const { failed, out } = await base(dir, t)
      if (failed) return failed
      const exit = await run({ steps: 2, seed: 7, out, extra: ["--overwrite"] }, t)
      return expectOk(exit, () => (read(metrics(out)).trim().split("\n").length === 2 ? undefined : "old lines kept"))
    }
  },
  {
    name: "resume --out into another run's directory",
    run: async (dir, t) => {
      const { failed, out } = await base(dir, t)
      if (failed) return failed
      const other = join(dir, "other")
      const b = await run({ steps: 2, seed: 5, out: other }, t)
      if (setupFailed(b)) return setupFailed(b)!
      return fail(await run({ steps: 6, resume: out, out: other }, t), "--out", "--overwrite")
    }
  },
  {
    name: "--checkpoint-every 3, killed at step 5: checkpoint at 3 (ok)",
    run: async (dir, t) => {
      const out = join(dir, "D")
      await run({ steps: 40, seed: 1, out, extra: ["--checkpoint-every", "3"], killAtLine: 5 }, t)
      if (!existsSync(state(out))) {
        return { outcome: "unclear", detail: "no checkpoint after 5 steps with --checkpoint-every 3" }
      }
      const step = JSON.parse(read(state(out))).step
      return step === 3 || step === 6
        ? { outcome: "clean", detail: `checkpoint at step ${step}` }
        : { outcome: "unclear", detail: `checkpoint at step ${step}` }
    }
  },
  identical("extend a finished run 15 → 20 (eval every 10): byte-identical", 15, 20),
  identical("extend a finished run 7 → 12: byte-identical", 7, 12),
  identical("killed at step 6 of 14 (checkpoint every 1), resumed: byte-identical", 6, 14, {
    kill: true,
    extra: ["--checkpoint-every", "1"]
  }),
  identical("killed at step 13 of 16 (checkpoint every 10), resumed: byte-identical", 13, 16, { kill: true }),
  identical("cdas killed at step 5 of 9 (checkpoint every 2), resumed: byte-identical", 5, 9, {
    kill: true,
    curriculum: "cdas",
    extra: ["--checkpoint-every", "2"]
  })
]

export const cases: ReadonlyArray<FaultCase> = list.map((c) => ({
  group: "checkpoint",
  name: c.name,
  run: ({ dir, timeoutMs }) => c.run(dir, timeoutMs)
}))
