/**
 * Command-line faults: bad numbers, empty and repeated flags, unknown flags,
 * paths that are files or missing. Each runs `zpd` as a child process; a bad
 * case must fail naming the flag (or argument) and what was expected.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { expectError, expectOk, type FaultCase, zpd } from "./Case.ts"

interface CliCase {
  readonly name: string
  /** Arguments; `$D` is replaced by the case's temp directory. */
  readonly args: ReadonlyArray<string>
  readonly error?: ReadonlyArray<string | RegExp>
  /** For a case that must succeed: a check of stdout. */
  readonly stdout?: RegExp
  readonly setup?: (dir: string) => void
}

const fast = ["--batch-size", "4", "--group-size", "2", "--quiet"]
const sec = (...args: ReadonlyArray<string>) => ["run", "sec", "--steps", "1", ...fast, ...args]
const file = (dir: string) => writeFileSync(join(dir, "file"), "not a directory")

const list: ReadonlyArray<CliCase> = [
  { name: "zpd --help (ok)", args: ["--help"], stdout: /run/ },
  {
    name: "zpd run --help (ok)",
    args: ["run", "--help"],
    stdout: /--steps N[\s\S]*--checkpoint-every N[\s\S]*--overwrite/
  },
  { name: "zpd --version (ok)", args: ["--version"], stdout: /0\.1\.0/ },
  { name: "no subcommand", args: ["--steps", "3"], error: ["subcommand", "run"] },
  { name: "run without a curriculum", args: ["run", "--steps", "1"], error: ["<curriculum>"] },
  { name: "unknown curriculum", args: ["run", "secc", "--steps", "1"], error: ["<curriculum>", "\"secc\"", "sec"] },
  { name: "extra positional argument", args: ["run", "sec", "extra", "--steps", "1"], error: ["'extra'"] },
  { name: "--steps ten", args: ["run", "sec", "--steps", "ten"], error: ["--steps", "integer", "\"ten\""] },
  { name: "--steps -1", args: ["run", "sec", "--steps", "-1"], error: ["--steps", "≥ 0", "\"-1\""] },
  { name: "--steps 1.5", args: ["run", "sec", "--steps", "1.5"], error: ["--steps", "integer", "\"1.5\""] },
  { name: "--steps 1e3", args: ["run", "sec", "--steps", "1e3"], error: ["--steps", "\"1e3\""] },
  { name: "--steps with an empty argument", args: ["run", "sec", "--steps", ""], error: ["--steps", "integer"] },
  { name: "--steps= (empty)", args: ["run", "sec", "--steps="], error: ["--steps", "value"] },
  { name: "--steps at the end, no value", args: ["run", "sec", "--steps"], error: ["--steps", "value"] },
  { name: "--steps followed by another flag", args: ["run", "sec", "--steps", "--quiet"], error: ["--steps", "value"] },
  { name: "--seed abc", args: ["run", "sec", "--seed", "abc"], error: ["--seed", "integer", "\"abc\""] },
  {
    name: "--seed beyond a safe integer",
    args: ["run", "sec", "--seed", "99999999999999999999"],
    error: ["--seed", "integer"]
  },
  { name: "--batch-size 0", args: ["run", "sec", "--batch-size", "0"], error: ["--batch-size", "≥ 1"] },
  { name: "--group-size -2", args: ["run", "sec", "--group-size", "-2"], error: ["--group-size", "≥ 1"] },
  {
    name: "--checkpoint-every -1",
    args: ["run", "sec", "--checkpoint-every", "-1"],
    error: ["--checkpoint-every", "≥ 0"]
  },
  {
    name: "--checkpoint-every x",
    args: ["run", "sec", "--checkpoint-every", "x"],
    error: ["--checkpoint-every", "\"x\""]
  },
  {
    name: "--max-prompt-chars 0",
    args: ["run", "sec", "--max-prompt-chars", "0"],
    error: ["--max-prompt-chars", "≥ 1"]
  },
  { name: "--out= (empty)", args: sec("--out="), error: ["--out", "value"] },
  { name: "--out with an empty argument", args: sec("--out", ""), error: ["--out", "path"] },
  { name: "--out of only spaces", args: sec("--out", "  "), error: ["--out", "path"] },
  {
    name: "--out pointing at a file",
    args: sec("--out", "$D/file"),
    setup: file,
    error: ["--out", "a directory", "file"]
  },
  { name: "--out under a file", args: sec("--out", "$D/file/run"), setup: file, error: ["--out", "$D/file/run"] },
  { name: "--resume of a missing directory", args: sec("--resume", "$D/nope"), error: ["$D/nope", "no checkpoint"] },
  {
    name: "--resume pointing at a file",
    args: sec("--resume", "$D/file"),
    setup: file,
    error: ["$D/file", "no checkpoint"]
  },
  { name: "--resume= (empty)", args: sec("--resume="), error: ["--resume", "value"] },
  {
    name: "--data of a missing file",
    args: sec("--data", "$D/none.jsonl"),
    error: ["$D/none.jsonl", "a readable JSONL file"]
  },
  { name: "--data= (empty)", args: sec("--data="), error: ["--data", "value"] },
  {
    name: "--steps given twice",
    args: ["run", "sec", "--steps", "5", "--steps", "6"],
    error: ["--steps", "more than once"]
  },
  { name: "--out given twice", args: sec("--out", "$D/a", "--out", "$D/b"), error: ["--out", "more than once"] },
  {
    name: "--quiet given twice",
    args: ["run", "sec", "--steps", "1", "--quiet", "--quiet"],
    error: ["--quiet", "more than once"]
  },
  {
    name: "--steps=5 and --steps 6",
    args: ["run", "sec", "--steps=5", "--steps", "6"],
    error: ["--steps", "more than once"]
  },
  { name: "unknown flag --bogus", args: sec("--bogus", "1"), error: ["--bogus"] },
  { name: "misspelt flag --step", args: ["run", "sec", "--step", "3"], error: ["--step"] },
  { name: "single-dash flag -steps", args: ["run", "sec", "-steps", "3"], error: ["-steps"] },
  { name: "boolean flag given a value (--overwrite=maybe)", args: sec("--overwrite=maybe"), error: ["--overwrite"] },
  {
    name: "valid run with every flag (ok)",
    args: [
      "run",
      "random",
      "--steps",
      "2",
      "--seed",
      "-5",
      "--out",
      "$D/run",
      "--batch-size",
      "4",
      "--group-size",
      "2",
      "--checkpoint-every",
      "1",
      "--overwrite"
    ],
    stdout: /random\s+2/
  },
  {
    name: "--steps 0 (ok, nothing to run)",
    args: ["run", "sec", "--steps", "0", "--out", "$D/zero"],
    stdout: /sec\s+0/
  }
]

export const cases: ReadonlyArray<FaultCase> = list.map((c) => ({
  group: "cli",
  name: c.name,
  run: async ({ dir, timeoutMs }) => {
    mkdirSync(dir, { recursive: true })
    c.setup?.(dir)
    const exit = await zpd(c.args.map((a) => a.replaceAll("$D", dir)), { timeoutMs })
    if (c.error === undefined) {
      return expectOk(
        exit,
        () => (c.stdout === undefined || c.stdout.test(exit.stdout) ? undefined : `stdout lacks ${c.stdout}`)
      )
    }
    return expectError(exit, c.error.map((p) => (typeof p === "string" ? p.replaceAll("$D", dir) : p)))
  }
}))
