/**
 * Runtimes implementing the `@zpd/core/Runtime` ports.
 *
 * @since 0.1.0
 */

/**
 * The simulated learner (an item-response-theory policy).
 *
 * @since 0.1.0
 * @category runtimes
 */
export * as Simulated from "./Simulated.ts"

/**
 * Named benchmark regimes (data suite + simulated learner from a run seed):
 * `default`, `easy`, `hard`, `large`, and `v1` (the first simulator).
 *
 * @since 0.2.0
 * @category runtimes
 */
export * as Regimes from "./Regimes.ts"

/**
 * vLLM-compatible `/v1/completions` inference client (load-balanced, retrying).
 *
 * @since 0.1.0
 * @category runtimes
 */
export * as HttpInference from "./HttpInference.ts"

/**
 * The trainer protocol's HTTP client (PROTOCOL.md).
 *
 * @since 0.1.0
 * @category runtimes
 */
export * as HttpTrainer from "./HttpTrainer.ts"

/**
 * Prompts rendered with the model's chat template (and tokenized) before generation.
 *
 * @since 0.1.0
 * @category runtimes
 */
export * as ChatTemplate from "./ChatTemplate.ts"

/**
 * Weight sync after each policy update: zpd workers, vLLM, SGLang.
 *
 * @since 0.1.0
 * @category runtimes
 */
export * as WeightSync from "./WeightSync.ts"

/**
 * Spawns the PyTorch worker and serves both ports from it.
 *
 * @since 0.1.0
 * @category runtimes
 */
export * as Worker from "./Worker.ts"

/**
 * The worker's plumbing task (last letter) for protocol tests; it cannot rank
 * curricula (see `SuffixSumTask`).
 *
 * @since 0.1.0
 * @category tasks
 */
export * as TinyTask from "./TinyTask.ts"

/**
 * The suffix-sum task (sum of the digits after the bar, mod 4) for the
 * PyTorch worker's tiny model: levels that compose, the same guessing rate at
 * every level, per-level held-out sets and a supervised warm start.
 *
 * @since 0.1.0
 * @category tasks
 */
export * as SuffixSumTask from "./SuffixSumTask.ts"
