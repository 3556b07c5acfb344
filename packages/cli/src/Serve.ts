/**
 * `zpd serve`: one curriculum served over HTTP to an external trainer (wire
 * contract: SERVE_API.md; the routes live in `@zpd/server`, this module adds
 * the flags and the `node:http` listener).
 *
 *   zpd serve --curriculum sec --data train.jsonl --seed 1 --state DIR
 *             [--port 0] [--host 127.0.0.1] [--token T] [--batch-size B] [--group-size G]
 *             [--steps N] [--inference URL | --difficulties FILE.jsonl]
 *             [--retain N] [--checkpoint-every N] [--sync fsync|write] [--allow-unknown-fields] [--max-prompt-chars N]
 *
 * It prints one line to stdout, `zpd serve: listening on http://HOST:PORT
 * token=TOKEN`, then progress on stderr, and runs until SIGINT/SIGTERM.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as FileSystem from "@effect/platform/FileSystem"
import { Problem, Runtime } from "@zpd/core"
import { RuntimeError } from "@zpd/core/Errors"
import { HttpInference } from "@zpd/gpu-runtime"
import { Auth, Difficulties, Routes, Server } from "@zpd/server"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime_ from "effect/Runtime"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import process from "node:process"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as Curricula from "./Curricula.ts"

const text = (flag: string, pseudo: string, description: string) =>
  Options.text(flag).pipe(Options.withPseudoName(pseudo), Options.withDescription(description))

const count = (flag: string, min: number, description: string) =>
  Options.integer(flag).pipe(
    Options.withPseudoName("N"),
    Options.withDescription(description),
    Options.mapEffect((n) =>
      n >= min
        ? Effect.succeed(n)
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${flag}: expected an integer ≥ ${min}, got ${n}`)))
    )
  )

/**
 * The flags of `zpd serve`.
 *
 * @since 0.3.0
 * @category options
 */
export const serveOptions = {
  curriculum: text(
    "curriculum",
    "NAME",
    `The curriculum: ${Curricula.names.join(", ")}, or an expression such as "adacurl.gate > sec(arms=bucket)".`
  ),
  data: text("data", "FILE", "The served dataset (JSONL, one problem per line; positions are line order)."),
  seed: count("seed", -(2 ** 31), "Random seed of the curriculum (selection streams per (seed, cursor)).").pipe(
    Options.withDefault(1)
  ),
  state: text("state", "DIR", "The server's durable state (checkpoint.json, journal.jsonl); a restart resumes it."),
  port: count("port", 0, "Port (0 = any free port; the listening line names it).").pipe(Options.withDefault(0)),
  host: text("host", "HOST", "Address to bind (default 127.0.0.1, loopback only).").pipe(
    Options.withDefault("127.0.0.1")
  ),
  token: text("token", "TOKEN", "Bearer token (default: $ZPD_SERVE_TOKEN, else a random one, printed).").pipe(
    Options.optional
  ),
  batchSize: count("batch-size", 1, "Problems per step (default: the first select's batch_size).").pipe(
    Options.optional
  ),
  groupSize: count("group-size", 1, "Completions per problem: the length of every group's rewards (default 8).").pipe(
    Options.withDefault(8)
  ),
  steps: count("steps", 1, "The training run's step budget, as the curriculum is told (default 1000).").pipe(
    Options.withDefault(1000)
  ),
  inference: text(
    "inference",
    "URL",
    "OpenAI-compatible completions endpoint for difficulty estimation (AdaCuRL)."
  ).pipe(Options.optional),
  difficulties: text(
    "difficulties",
    "FILE",
    "Precomputed difficulties for AdaCuRL: JSONL of {id, difficulty} with difficulty = 1 − pass rate in [0, 1]."
  ).pipe(Options.optional),
  retain: count("retain", 0, `Observed cursors kept for retries after a checkpoint (default ${Server.defaultRetain}).`)
    .pipe(Options.withDefault(Server.defaultRetain)),
  checkpointEvery: count(
    "checkpoint-every",
    0,
    `Checkpoint and compact the journal every N observed cursors; 0 = on request only (default ${Server.defaultCheckpointEvery}).`
  ).pipe(Options.withDefault(Server.defaultCheckpointEvery)),
  sync: Options.choice("sync", ["fsync", "write"]).pipe(
    Options.withDescription(
      "fsync: every journal line reaches the disk before the reply (survives power loss); write: the OS has it " +
        "(survives kill -9, not a machine crash; the trainer's checkpoint holds GET /v1/state). Default fsync."
    ),
    Options.withDefault("fsync" as const)
  ),
  allowUnknownFields: Options.boolean("allow-unknown-fields").pipe(
    Options.withDescription("Ignore dataset fields zpd does not know instead of failing.")
  ),
  maxPromptChars: count("max-prompt-chars", 1, "Longest prompt accepted in --data (default 32768).").pipe(
    Options.optional
  )
}

/** Refuses every call: the served curriculum trains nothing and evaluates nothing; the trainer does. */
const notServed = (service: string) =>
  Effect.fail(
    new RuntimeError({
      endpoint: service,
      reason: "Refused",
      description: "zpd serve runs no trainer: the external trainer acts on the events observe returns"
    })
  )

const trainerRefused = Layer.succeed(Runtime.TrainerRuntime, {
  update: () => notServed("TrainerRuntime.update"),
  resetReference: notServed("TrainerRuntime.resetReference"),
  publishWeights: notServed("TrainerRuntime.publishWeights"),
  checkpoint: () => notServed("TrainerRuntime.checkpoint"),
  restore: () => notServed("TrainerRuntime.restore")
})

const evaluatorRefused = Layer.succeed(Runtime.Evaluator, { accuracy: () => notServed("Evaluator.accuracy") })

/**
 * Runs a full garbage collection once, before the port opens: loading a large
 * dataset and building the curriculum (AdaCuRL's estimation over a million
 * problems) leave hundreds of MB of garbage whose first major collection would
 * otherwise pause the first requests for ~100 ms.
 */
const collectGarbage = () => {
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("gc") as (() => void) | undefined
  if (typeof gc === "function") gc()
}

/** The body's bytes (not decoded: a retried observe is recognised by its bytes, see `Routes.Request`). */
const readBody = (request: IncomingMessage): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (c: Buffer) => chunks.push(c))
    request.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)))
    request.on("error", reject)
  })

/**
 * Serves `server` on `host:port` with `node:http`; resolves to the bound
 * port.
 *
 * @since 0.3.0
 * @category running
 */
export const listen = (
  server: Server.Server,
  token: string,
  host: string,
  port: number
): Effect.Effect<{ readonly port: number; readonly close: () => void }, Error> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime_.runPromise(runtime)
    const http = createServer((request: IncomingMessage, response: ServerResponse) => {
      readBody(request).then((body) => {
        const req = {
          method: request.method ?? "GET",
          path: request.url ?? "/",
          authorization: request.headers.authorization,
          body
        }
        return Routes.handlePromise(server, token, req, run)
      }).then(
        (reply) => {
          response.writeHead(reply.status, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(reply.body)
          })
          response.end(reply.body)
        },
        (e: unknown) => {
          response.writeHead(500, { "content-type": "application/json" })
          response.end(JSON.stringify({ error: { code: "internal", message: String(e) } }))
        }
      )
    })
    http.keepAliveTimeout = 60_000
    return yield* Effect.async<{ readonly port: number; readonly close: () => void }, Error>((resume) => {
      http.once("error", (e) => resume(Effect.fail(new Error(`--host ${host} --port ${port}: ${e.message}`))))
      http.listen(port, host, () => {
        const address = http.address()
        const bound = typeof address === "object" && address !== null ? address.port : port
        resume(Effect.succeed({ port: bound, close: () => http.close() }))
      })
    })
  })

type Parsed = {
  readonly [K in keyof typeof serveOptions]: (typeof serveOptions)[K] extends Options.Options<infer A> ? A : never
}

/** The InferenceRuntime the curriculum builds with: an endpoint, a difficulty table, or a refusal naming the flags. */
const inferenceLayer = (flags: Parsed, dataset: Problem.Dataset, curriculum: string) =>
  Effect.gen(function*() {
    if (Option.isSome(flags.inference) && Option.isSome(flags.difficulties)) {
      return yield* Effect.fail(new Error("--inference and --difficulties: give one of them, not both"))
    }
    if (Option.isSome(flags.inference)) {
      return HttpInference.layer({
        endpoints: [flags.inference.value],
        allowRawLogprobs: true
      }).pipe(Layer.provide(FetchHttpClient.layer), Layer.mapError((e) => new Error(`--inference: ${e.message}`)))
    }
    if (Option.isSome(flags.difficulties)) {
      const fs = yield* FileSystem.FileSystem
      const file = flags.difficulties.value
      const text = yield* fs.readFileString(file).pipe(
        Effect.mapError((e) => new Error(`--difficulties ${file}: expected a readable JSONL file (${e.message})`))
      )
      const table = Difficulties.parse(file, text)
      if (typeof table === "string") return yield* Effect.fail(new Error(`--difficulties: ${table}`))
      return Difficulties.layer(table, Curricula.verifier)
    }
    const metadata = Difficulties.fromMetadata(dataset.problems)
    if (typeof metadata === "string") return yield* Effect.fail(new Error(`--data ${dataset.name}: ${metadata}`))
    if (metadata !== undefined) return Difficulties.layer(metadata, Curricula.verifier)
    return Difficulties.missing(curriculum)
  })

/**
 * Starts the server and runs until interrupted.
 *
 * @since 0.3.0
 * @category running
 */
export const serve = (flags: Parsed) =>
  Effect.gen(function*() {
    const entry = yield* Curricula.lookup(flags.curriculum).pipe(
      Effect.mapError((e) => new Error(`--curriculum: ${e.message}`))
    )
    const progress = (line: string) => process.stderr.write(`zpd serve: ${line}\n`)
    const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`
    const loading = performance.now()
    progress(`loading ${flags.data}…`)
    const dataset = yield* Problem.fromJsonl(flags.data, {
      allowUnknownFields: flags.allowUnknownFields,
      ...(Option.isSome(flags.maxPromptChars) ? { maxPromptChars: flags.maxPromptChars.value } : {})
    })
    const inference = yield* inferenceLayer(flags, dataset, entry.name)
    const services = Layer.mergeAll(inference, trainerRefused, evaluatorRefused)
    const token = Option.getOrUndefined(flags.token) ?? process.env["ZPD_SERVE_TOKEN"] ?? Auth.generateToken()
    if (token.length === 0) return yield* Effect.fail(new Error("--token: expected a non-empty token"))
    progress(
      `${dataset.problems.length} problems loaded in ${seconds(loading)}; recovering ${flags.state}${
        Option.isSome(flags.batchSize) ? ` and building ${entry.name}` : ""
      }…`
    )
    const started = performance.now()
    const server = yield* Server.make({
      plugin: entry.plugin,
      dataset,
      seed: flags.seed,
      steps: flags.steps,
      batchSize: Option.getOrUndefined(flags.batchSize),
      groupSize: flags.groupSize,
      stateDir: flags.state,
      retain: flags.retain,
      checkpointEvery: flags.checkpointEvery,
      sync: flags.sync
    }).pipe(Effect.provide(services))
    collectGarbage()
    const { close, port } = yield* listen(server, token, flags.host, flags.port)
    process.stdout.write(`zpd serve: listening on http://${flags.host}:${port} token=${token}\n`)
    if (!["127.0.0.1", "::1", "localhost"].includes(flags.host)) {
      process.stderr.write(
        `zpd serve: warning: --host ${flags.host} accepts connections from other machines; the bearer token is the ` +
          `only protection and travels in clear text (put a TLS proxy in front)\n`
      )
    }
    process.stderr.write(
      `zpd serve: ${entry.name} on ${dataset.problems.length} problems (${dataset.name}), seed ${flags.seed}, ` +
        `state ${flags.state}: observed ${server.session.observed}, selected ${server.session.selected} ` +
        `(ready in ${((performance.now() - started) / 1000).toFixed(1)} s)\n`
    )
    yield* Effect.async<void>((resume) => {
      const stop = () => {
        close()
        resume(Effect.void)
      }
      process.once("SIGINT", stop)
      process.once("SIGTERM", stop)
    })
  }).pipe(Effect.scoped)

/**
 * `zpd serve`.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make("serve", serveOptions, serve).pipe(
  Command.withDescription(
    "Serve a curriculum over HTTP to an external trainer (verl, TRL, prime-rl): select and observe by cursor, journaled."
  )
)
