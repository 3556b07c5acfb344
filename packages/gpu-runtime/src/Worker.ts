/**
 * Spawns zpd's PyTorch worker (`packages/gpu-runtime/worker`) as a scoped
 * resource and serves the runtime ports from it.
 *
 * `spawn` starts `python -m zpd_worker --port 0 --exit-with-parent …` with
 * `PYTHONPATH` set to the worker directory and a fresh random token in
 * `ZPD_WORKER_TOKEN` (every request must carry `Authorization: Bearer <token>`;
 * the clients built by `layer` do), waits for the `ZPD_WORKER_LISTENING <url>`
 * line on stdout and for `GET /health`, and stops the process (SIGTERM, then
 * SIGKILL after `stopTimeout`) when the scope closes. If zpd itself dies, the
 * worker notices it was orphaned and exits. The interpreter is
 * {@link resolvePython}'s: `ZPD_PYTHON`, else the repository's `.venv` (built by
 * `npm run python:env`), else `python3`. If the process exits or does not
 * come up within `startupTimeout`, it fails with a `RuntimeError` whose
 * description ends with the worker's stderr. `layer` builds an
 * {@link InferenceRuntime} ({@link HttpInference}) and a {@link TrainerRuntime}
 * ({@link HttpTrainer}) on the one worker; their errors carry the worker's
 * stderr when the process has died.
 *
 * Process spawning goes through `@effect/platform`'s `CommandExecutor`: the
 * application provides it (`NodeContext.layer` from `@effect/platform-node`,
 * which also runs under Deno), plus an `HttpClient` (`FetchHttpClient.layer`).
 *
 * **Example**
 * ```ts
 * const runtime = Worker.layer({ model: "tiny", seed: 1, threads: 1 })   // python: ZPD_PYTHON or .venv
 * const report = yield* Pipeline.run(pipeline, plugin, options).pipe(Effect.provide(runtime))
 * ```
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import { RuntimeError } from "@zpd/core/Errors"
import { InferenceRuntime, TrainerRuntime } from "@zpd/core/Runtime"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as HttpInference from "./HttpInference.ts"
import * as HttpTrainer from "./HttpTrainer.ts"
import * as Http from "./internal/http.ts"

/**
 * The line the worker prints on stdout once it listens.
 *
 * @since 0.1.0
 * @category constants
 */
export const LISTENING = "ZPD_WORKER_LISTENING"

/**
 * The worker's directory in this package (its `PYTHONPATH`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultWorkerDir: string = decodeURIComponent(new URL("../worker", import.meta.url).pathname)

/**
 * The interpreter of the repository's Python env, `.venv/bin/python` at the
 * repository root (built offline by `npm run python:env`, DESIGN §1).
 *
 * @since 0.1.0
 * @category constants
 */
export const venvPython: string = decodeURIComponent(new URL("../../../.venv/bin/python", import.meta.url).pathname)

/**
 * The Python that runs the worker when `SpawnOptions.python` is not given:
 * `ZPD_PYTHON` from the environment (the config provider), else
 * {@link venvPython} when it exists (checked through `FileSystem` when the
 * application provides one), else `python3` from `PATH`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolvePython: Effect.Effect<string> = Effect.gen(function*() {
  const fromEnv = yield* Config.option(Config.nonEmptyString("ZPD_PYTHON")).pipe(
    Effect.orElseSucceed(() => Option.none<string>())
  )
  if (Option.isSome(fromEnv)) return fromEnv.value
  const fs = yield* Effect.serviceOption(FileSystem.FileSystem)
  if (Option.isSome(fs) && (yield* fs.value.exists(venvPython).pipe(Effect.orElseSucceed(() => false)))) {
    return venvPython
  }
  return "python3"
})

/** 256 random bits, hex: the per-spawn bearer token. */
const freshToken = (): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("")

/**
 * The header every request to a worker started with `token` must carry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const authHeaders = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

/**
 * How to start the worker. The named fields map to its flags
 * (`python3 -m zpd_worker --help`); `args` are passed through.
 *
 * @since 0.1.0
 * @category models
 */
export interface SpawnOptions {
  /** The Python that has PyTorch. Default: {@link resolvePython} (`ZPD_PYTHON`, the repository's `.venv`, `python3`). */
  readonly python?: string
  readonly workerDir?: string
  /** `tiny` (default) or `hf:PATH`. */
  readonly model?: string
  readonly host?: string
  /** Default 0: the OS picks a free port. */
  readonly port?: number
  /** Seed of the tiny model's initialisation. */
  readonly seed?: number
  /** AdamW learning rate. */
  readonly lr?: number
  /** torch intra-op threads. */
  readonly threads?: number
  /** `auto`, `cpu`, `cuda`, `cuda:N`. */
  readonly device?: string
  /** The only directory checkpoints are written to and restored from (`--checkpoint-dir`). */
  readonly checkpointDir?: string
  /** The only directory weights are published to; also readable by `load_weights` (`--publish-dir`). */
  readonly publishDir?: string
  /** Further directories `load_weights` may read (`--read-dir`, e.g. another worker's publish dir). */
  readonly readDirs?: ReadonlyArray<string>
  /** The bearer token the worker requires (`ZPD_WORKER_TOKEN`). Default: 256 fresh random bits per spawn. */
  readonly token?: string
  /** Pass `--exit-with-parent`: the worker exits when this process dies. Default true. */
  readonly exitWithParent?: boolean
  readonly args?: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** Default 120 s (loading a large Hugging Face model takes a while). */
  readonly startupTimeout?: Duration.DurationInput
  /** Grace period after SIGTERM before SIGKILL. Default 10 s. */
  readonly stopTimeout?: Duration.DurationInput
  /** Receives every stdout and stderr line of the worker. */
  readonly onLog?: (line: string) => void
}

/**
 * A running worker.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerProcess {
  readonly url: string
  readonly pid: number
  /** The bearer token it requires. */
  readonly token: string
  /** `{ authorization: "Bearer <token>" }`, for clients of this worker. */
  readonly headers: Readonly<Record<string, string>>
  /** The last 16 KiB of the worker's stderr. */
  readonly stderr: Effect.Effect<string>
  /** The exit code once the process has exited (`-1`: killed by a signal). */
  readonly exitCode: Effect.Effect<Option.Option<number>>
}

const TAIL = 16 * 1024

/** `-1` stands for "killed by a signal" (the platform reports no code then). */
const describeExit = (code: number): string => code === -1 ? "was killed by a signal" : `exited with code ${code}`

const argv = (o: SpawnOptions): Array<string> => {
  const out = ["-m", "zpd_worker", "--host", o.host ?? "127.0.0.1", "--port", String(o.port ?? 0)]
  const flag = (name: string, value: string | number | undefined) => {
    if (value !== undefined) out.push(name, String(value))
  }
  flag("--model", o.model)
  flag("--seed", o.seed)
  flag("--lr", o.lr)
  flag("--threads", o.threads)
  flag("--device", o.device)
  flag("--checkpoint-dir", o.checkpointDir)
  flag("--publish-dir", o.publishDir)
  for (const dir of o.readDirs ?? []) flag("--read-dir", dir)
  if (o.exitWithParent ?? true) out.push("--exit-with-parent")
  return [...out, ...(o.args ?? [])]
}

/**
 * Starts a worker in the current scope and waits until it is healthy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const spawn = (
  options: SpawnOptions = {}
): Effect.Effect<WorkerProcess, RuntimeError, CommandExecutor.CommandExecutor | HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const python = options.python ?? (yield* resolvePython)
    const args = argv(options)
    const label = `worker (${python} ${args.join(" ")})`
    const token = options.token ?? freshToken()
    const headers = authHeaders(token)
    const command = Command.make(python, ...args).pipe(
      Command.env({
        ...options.env,
        PYTHONPATH: options.workerDir ?? defaultWorkerDir,
        PYTHONUNBUFFERED: "1",
        ZPD_WORKER_TOKEN: token
      })
    )
    const startupTimeout = Duration.decode(options.startupTimeout ?? "120 seconds")
    const stopTimeout = Duration.decode(options.stopTimeout ?? "10 seconds")
    let tail = ""
    let exit: number | undefined
    const stderr = Effect.sync(() => tail)

    const proc = yield* Command.start(command).pipe(
      Effect.mapError((e) =>
        new RuntimeError({
          endpoint: label,
          reason: "Unavailable",
          description: `could not start the worker: ${e.message} (is ${python} installed?)`
        })
      )
    )
    // Stop on scope close: SIGTERM, then SIGKILL. Runs before Command.start's own release.
    yield* Effect.addFinalizer(() =>
      proc.isRunning.pipe(
        Effect.flatMap((running) =>
          running
            ? proc.kill("SIGTERM").pipe(
              Effect.timeout(stopTimeout),
              Effect.catchAll(() => proc.kill("SIGKILL"))
            )
            : Effect.void
        ),
        Effect.ignore
      )
    )

    const stderrDone = yield* Deferred.make<void>()
    yield* Stream.decodeText(proc.stderr).pipe(
      Stream.splitLines,
      Stream.runForEach((line) =>
        Effect.sync(() => {
          tail = (tail + line + "\n").slice(-TAIL)
          options.onLog?.(line)
        })
      ),
      Effect.ignore,
      Effect.ensuring(Deferred.succeed(stderrDone, undefined)),
      Effect.forkScoped
    )
    const url = yield* Deferred.make<string>()
    yield* Stream.decodeText(proc.stdout).pipe(
      Stream.splitLines,
      Stream.runForEach((line) =>
        Effect.gen(function*() {
          options.onLog?.(line)
          if (line.startsWith(`${LISTENING} `)) yield* Deferred.succeed(url, line.slice(LISTENING.length + 1).trim())
        })
      ),
      Effect.ignore,
      Effect.forkScoped
    )
    yield* proc.exitCode.pipe(
      Effect.map((code) => Number(code)),
      Effect.catchAll(() => Effect.succeed(-1)),
      Effect.flatMap((code) =>
        Effect.sync(() => {
          exit = code
        })
      ),
      Effect.forkScoped
    )

    const withStderr = (description: string) =>
      Deferred.await(stderrDone).pipe(
        Effect.timeout("2 seconds"),
        Effect.ignore,
        Effect.map(() => {
          const t = tail.trim()
          return t.length === 0 ? `${description} (no stderr)` : `${description}; its stderr ends:\n${t.slice(-4000)}`
        })
      )

    const exited = proc.exitCode.pipe(
      Effect.map(Number),
      Effect.catchAll(() => Effect.succeed(-1)),
      Effect.flatMap((code) =>
        Effect.flatMap(
          withStderr(`the worker ${describeExit(code)} before it was ready`),
          (description) => Effect.fail(new RuntimeError({ endpoint: label, reason: "Unavailable", description }))
        )
      )
    )
    const client = yield* HttpClient.HttpClient
    const started = Deferred.await(url).pipe(
      Effect.tap((base) =>
        Http.requestJson(client, "GET", `${base}/health`, undefined, headers, Duration.seconds(5)).pipe(
          Effect.retry({ schedule: Schedule.spaced("100 millis"), while: (f) => f.retryable }),
          Effect.mapError((f) =>
            new RuntimeError({ endpoint: `${base}/health`, reason: f.reason, description: f.description })
          )
        )
      )
    )
    const base = yield* Effect.raceFirst(started, exited).pipe(
      Effect.timeout(startupTimeout),
      Effect.catchTag("TimeoutException", () =>
        Effect.flatMap(
          withStderr(
            `the worker did not report ${LISTENING} and a healthy GET /health within ${Duration.format(startupTimeout)}`
          ),
          (description) => Effect.fail(new RuntimeError({ endpoint: label, reason: "Timeout", description }))
        ))
    )
    return {
      url: base,
      pid: Number(proc.pid),
      token,
      headers,
      stderr,
      exitCode: Effect.sync(() => Option.fromNullable(exit))
    }
  })

/**
 * The worker behind a layer: its process and both clients.
 *
 * @since 0.1.0
 * @category tags
 */
export class WorkerHandle extends Context.Tag("@zpd/gpu-runtime/Worker")<WorkerHandle, {
  readonly process: WorkerProcess
  readonly inference: HttpInference.Client
  readonly trainer: HttpTrainer.Client
}>() {}

/**
 * Options of {@link layer}: how to spawn, plus options of the two clients.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions extends SpawnOptions {
  readonly inference?: Omit<HttpInference.Options, "endpoints">
  readonly trainer?: Omit<HttpTrainer.Options, "url">
}

/**
 * Spawns one worker for the layer's lifetime and provides
 * {@link InferenceRuntime} and {@link TrainerRuntime} on it (colocated: the
 * worker samples with the weights it trains, so completions always carry the
 * current policy version), plus {@link WorkerHandle}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: LayerOptions = {}
): Layer.Layer<
  InferenceRuntime | TrainerRuntime | WorkerHandle,
  RuntimeError,
  CommandExecutor.CommandExecutor | HttpClient.HttpClient
> =>
  Layer.scopedContext(Effect.gen(function*() {
    const process = yield* spawn(options)
    // a request that fails after the worker exited is reported at once, not retried
    const serverExited = Effect.map(
      process.exitCode,
      Option.map((code) => `the worker (pid ${process.pid}) ${describeExit(code)}`)
    )
    const inference = yield* HttpInference.make({
      ...options.inference,
      headers: { ...options.inference?.headers, ...process.headers },
      endpoints: [process.url],
      serverExited
    })
    const trainer = yield* HttpTrainer.make({
      ...(options.checkpointDir === undefined ? {} : { checkpointDir: options.checkpointDir }),
      ...(options.publishDir === undefined ? {} : { publishDir: options.publishDir }),
      ...options.trainer,
      headers: { ...options.trainer?.headers, ...process.headers },
      url: process.url,
      serverExited
    })
    const explain = <A>(effect: Effect.Effect<A, RuntimeError>): Effect.Effect<A, RuntimeError> =>
      Effect.catchAll(effect, (e) =>
        Effect.flatMap(process.exitCode, (code) =>
          Option.isNone(code)
            ? Effect.fail(e)
            : Effect.flatMap(process.stderr, (tail) =>
              Effect.fail(
                new RuntimeError({
                  endpoint: e.endpoint,
                  reason: e.reason,
                  description: `${e.description}; the worker (pid ${process.pid}) ${describeExit(code.value)}; ` +
                    `its stderr ends:\n${tail.trim().slice(-4000)}`
                })
              ))))
    const inferenceService: InferenceRuntime.Service = {
      generate: (request) => explain(inference.generate(request)),
      health: explain(inference.health),
      capabilities: inference.capabilities
    }
    const trainerService: TrainerRuntime.Service = {
      update: (request) => explain(trainer.update(request)),
      resetReference: explain(trainer.resetReference),
      publishWeights: explain(trainer.publishWeights),
      checkpoint: (tag) => explain(trainer.checkpoint(tag)),
      // a restore may lower the version: the inference client must accept it from now on
      restore: (cp) => explain(trainer.restore(cp)).pipe(Effect.tap((v) => inference.setPolicyVersion(v)))
    }
    return Context.make(InferenceRuntime, inferenceService).pipe(
      Context.add(TrainerRuntime, trainerService),
      Context.add(WorkerHandle, { process, inference, trainer })
    )
  }))
