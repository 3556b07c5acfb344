/**
 * A benchmark worker process (the bench runner starts `--jobs` of them): reads
 * one JSON run spec per line on stdin, e.g.
 * `{"curriculum":"sec","regime":"default","seed":1,"steps":300,"out":"DIR","resume":false}`,
 * runs it with `makeRun`, and answers `@progress <step>` lines, then `@done`
 * or `@failed <reason>`. Ends when stdin closes.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import process from "node:process"
import { createInterface } from "node:readline"
import { makeRun, type RunSpec } from "./lib/contenders.ts"

const say = (line: string) => process.stdout.write(line + "\n")

const messageOf = (cause: unknown): string => {
  const failure = cause as { _tag?: string; error?: { message?: string }; defect?: unknown }
  const text = failure._tag === "Fail" ? failure.error?.message : String(failure.defect ?? cause)
  return (text ?? String(cause)).replace(/\s+/g, " ")
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim().length === 0) continue
  let spec: RunSpec
  try {
    spec = JSON.parse(line) as RunSpec
  } catch {
    say(`@failed stdin: expected a JSON run spec per line, got ${line.slice(0, 80)}`)
    continue
  }
  const exit = await Effect.runPromiseExit(
    makeRun({ ...spec, onStep: (step) => say(`@progress ${step}`) }).pipe(Effect.provide(NodeContext.layer))
  )
  say(exit._tag === "Success" ? "@done" : `@failed ${messageOf(exit.cause)}`)
}
