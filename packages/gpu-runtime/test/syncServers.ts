/**
 * Recorded-protocol fakes of the servers a weight sync drives, on 127.0.0.1.
 * Each keeps the state the real server keeps (paused or not, which weights it
 * serves, whether its prefix cache was computed with the weights it serves,
 * its weight-version label) and writes a `violations` entry whenever a
 * client does something that would make a real run sample from stale
 * weights. Tests assert `violations` is empty after a correct sync, and the
 * fakes' own tests show each wrong sequence is caught.
 *
 * Reply shapes follow the servers' sources:
 * - vLLM (dev mode): `/pause` → `{"status": "paused"}`, `/resume` →
 *   `{"status": "resumed"}` (`vllm/entrypoints/serve/dev/rlhf/api_router.py`
 *   @0100a212); `/reset_prefix_cache` → 200 with no body
 *   (`vllm/entrypoints/serve/cache/api_router.py` @09cb327f);
 *   `/collective_rpc` → `{"results": [...]}` with one entry per worker; an
 *   exception inside the RPC is a plain 500; without `VLLM_SERVER_DEV_MODE`
 *   the routes are not registered (FastAPI's 404 `{"detail": "Not Found"}`).
 *   `reload_weights` without `weights_path` reloads the checkpoint the engine
 *   was started from.
 * - SGLang: `/update_weights_from_disk` → `{success, message,
 *   num_paused_requests}` (400 with `success: false` on failure),
 *   `/model_info` → `{…, weight_version}`, completions →
 *   `metadata.weight_version` (`io_struct.py`, `http_server.py`,
 *   `serving_completions.py`).
 */
import { fakeCompletions, json, serve, type TestServer } from "./servers.ts"

/** Where a fake sends a log line for every admin call, so tests can check the order across engines. */
export type Journal = Array<string>

export interface FakeVllm extends TestServer {
  readonly state: {
    paused: boolean
    /** The checkpoint the engine serves. */
    weights: string
    /** False from a reload until `/reset_prefix_cache`: cached KV was computed with other weights. */
    cacheMatchesWeights: boolean
  }
  readonly violations: Array<string>
  /** The weights each completions request was served with. */
  readonly servedWith: Array<string>
}

export interface FakeVllmOptions {
  /** The checkpoint `vllm serve` was started with. */
  readonly model: string
  /** `VLLM_SERVER_DEV_MODE=1`. Default true. */
  readonly devMode?: boolean
  /** A vLLM whose `reload_weights()` takes no arguments (before `weights_path` existed). */
  readonly reloadTakesNoPath?: boolean
  readonly journal?: Journal
  readonly name?: string
  /** `vllm serve --api-key`: guards the `/v1` routes only, as vLLM's middleware does. */
  readonly apiKey?: string
}

export const fakeVllmEngine = (options: FakeVllmOptions): Promise<FakeVllm> => {
  const state = { paused: false, weights: options.model, cacheMatchesWeights: true }
  const violations: Array<string> = []
  const servedWith: Array<string> = []
  const name = options.name ?? "vllm"
  const admin = new Set(["/pause", "/resume", "/collective_rpc", "/reset_prefix_cache", "/is_paused"])
  return serve((req, body, res) => {
    const url = new URL(req.url ?? "/", "http://fake")
    const path = url.pathname
    if (
      options.apiKey !== undefined && path.startsWith("/v1") && req.headers.authorization !== `Bearer ${options.apiKey}`
    ) {
      return json(res, 401, { error: "Unauthorized" })
    }
    if (admin.has(path)) {
      options.journal?.push(`${name} ${path}`)
      if (options.devMode === false) return json(res, 404, { detail: "Not Found" })
    }
    switch (path) {
      case "/health":
        res.writeHead(200, { "content-length": "0" })
        res.end()
        return
      case "/pause": {
        const mode = url.searchParams.get("mode") ?? "abort"
        if (!["abort", "wait", "keep"].includes(mode)) return json(res, 400, { error: `Invalid pause mode: '${mode}'` })
        state.paused = true
        return json(res, 200, { status: "paused" })
      }
      case "/resume":
        if (!state.paused) violations.push("/resume on an engine that was not paused")
        if (!state.cacheMatchesWeights) {
          violations.push(
            `/resume with a prefix cache computed from older weights (no /reset_prefix_cache after the reload)`
          )
        }
        state.paused = false
        return json(res, 200, { status: "resumed" })
      case "/is_paused":
        return json(res, 200, { is_paused: state.paused })
      case "/reset_prefix_cache":
        state.cacheMatchesWeights = true
        res.writeHead(200, { "content-length": "0" })
        res.end()
        return
      case "/collective_rpc": {
        if (body?.method !== "reload_weights") return json(res, 200, { results: [null] })
        const path = body.kwargs?.weights_path
        if (path !== undefined && options.reloadTakesNoPath) {
          res.writeHead(500, { "content-type": "text/plain" })
          res.end("Internal Server Error")
          return
        }
        if (!state.paused) violations.push("reload_weights while the engine was serving (not paused)")
        state.weights = typeof path === "string" ? path : options.model
        state.cacheMatchesWeights = false
        return json(res, 200, { results: [null] })
      }
      case "/v1/completions":
        if (state.paused) violations.push("a completions request was served while paused")
        servedWith.push(state.weights)
        return json(res, 200, fakeCompletions(body))
      default:
        return json(res, 404, { detail: "Not Found" })
    }
  }).then((server) => Object.assign(server, { state, violations, servedWith }))
}

export interface FakeSglang extends TestServer {
  readonly state: { weights: string; weightVersion: string }
  readonly violations: Array<string>
  readonly servedWith: Array<string>
}

export interface FakeSglangOptions {
  readonly model: string
  /** An SGLang that ignores `weight_version` in `/update_weights_from_disk` (labels stay stale). */
  readonly ignoresWeightVersion?: boolean
  /** Older servers: no `/model_info` (`"get_model_info"`), or neither info route (`"get_weight_version"`). */
  readonly versionRoute?: "model_info" | "get_model_info" | "get_weight_version"
  /** Paths that fail to load (SGLang answers 400 `{success: false}`). */
  readonly unloadable?: ReadonlyArray<string>
}

export const fakeSglangServer = (options: FakeSglangOptions): Promise<FakeSglang> => {
  const state = { weights: options.model, weightVersion: "default" }
  const violations: Array<string> = []
  const servedWith: Array<string> = []
  const route = options.versionRoute ?? "model_info"
  const info = () => ({ model_path: state.weights, is_generation: true, weight_version: state.weightVersion })
  return serve((req, body, res) => {
    switch (req.url) {
      case "/update_weights_from_disk": {
        if (typeof body?.model_path !== "string" || body.model_path.length === 0) {
          return json(res, 422, { detail: [{ loc: ["body", "model_path"], msg: "Field required" }] })
        }
        if (options.unloadable?.includes(body.model_path)) {
          return json(res, 400, {
            success: false,
            message: `Failed to get weights iterator: ${body.model_path} not found`
          })
        }
        if (body.flush_cache === false) {
          violations.push("update_weights_from_disk with flush_cache false: stale radix cache")
        }
        state.weights = body.model_path
        if (!options.ignoresWeightVersion && typeof body.weight_version === "string") {
          state.weightVersion = body.weight_version
        }
        return json(res, 200, { success: true, message: "Succeeded to update model weights.", num_paused_requests: 0 })
      }
      case "/model_info":
        return route === "model_info" ? json(res, 200, info()) : json(res, 404, { detail: "Not Found" })
      case "/get_model_info":
        return route === "get_weight_version" ? json(res, 404, { detail: "Not Found" }) : json(res, 200, info())
      case "/get_weight_version":
        return json(res, 200, { weight_version: state.weightVersion })
      case "/v1/completions":
        servedWith.push(state.weights)
        return json(res, 200, {
          ...(fakeCompletions(body) as object),
          metadata: { weight_version: state.weightVersion }
        })
      default:
        return json(res, 404, { detail: "Not Found" })
    }
  }).then((server) => Object.assign(server, { state, violations, servedWith }))
}

export interface FakeZpdWorker extends TestServer {
  readonly state: { weights: string | undefined; policyVersion: number }
  readonly checkpoints: ReadonlyMap<string, number>
}

/**
 * A zpd worker speaking PROTOCOL.md's update/publish/load routes (an update
 * adds one to the version; publishing writes `dir/policy-v<version>`). `staleReply`
 * answers `load_weights` with the version it had before (a broken worker).
 */
export const fakeZpdWorker = (
  options: {
    readonly staleReply?: boolean
    readonly policyVersion?: number
    /** Checkpoints written by an earlier fake (path → version), for resume tests. */
    readonly restored?: ReadonlyMap<string, number>
    /** `ZPD_WORKER_TOKEN`: every route needs `Authorization: Bearer <token>`. */
    readonly token?: string
  } = {}
) => {
  const state = { weights: undefined as string | undefined, policyVersion: options.policyVersion ?? 0 }
  const checkpoints = new Map<string, number>()
  return serve((req, body, res) => {
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      return json(res, 401, { error: { message: "missing or wrong bearer token" } })
    }
    switch (req.url) {
      case "/trainer/update":
        state.policyVersion++
        return json(res, 200, {
          step: body.step,
          policyVersion: state.policyVersion,
          metrics: { loss: 0, kl_mean: 0, clipfrac: 0, grad_norm: 0 }
        })
      case "/trainer/publish_weights": {
        const path = body?.dir === undefined ? null : `${body.dir}/policy-v${state.policyVersion}`
        if (path !== null) state.weights = path
        return json(res, 200, { policyVersion: state.policyVersion, path })
      }
      case "/trainer/checkpoint": {
        const path = `${body?.dir ?? "/ckpt"}/${body.tag}.pt`
        checkpoints.set(path, state.policyVersion)
        return json(res, 200, { policyVersion: state.policyVersion, path })
      }
      case "/trainer/restore": {
        const version = checkpoints.get(body.path) ?? options.restored?.get(body.path)
        if (version === undefined) return json(res, 400, { error: { message: `path: no checkpoint at ${body.path}` } })
        state.policyVersion = version
        return json(res, 200, { policyVersion: version, referenceVersion: version })
      }
      case "/trainer/load_weights": {
        const before = state.policyVersion
        state.weights = body.path
        state.policyVersion = body.policyVersion
        return json(res, 200, { policyVersion: options.staleReply ? before : state.policyVersion })
      }
      default:
        return json(res, 404, { error: { message: `no route ${req.url}` } })
    }
  }).then((server): FakeZpdWorker => Object.assign(server, { state, checkpoints }))
}
