/**
 * Group-relative advantage estimators and the sparse-KL mask.
 *
 * GRPO (DeepSeekMath; restated in SEC §2.2 and CDAS eq. 3):
 * `Â_i = (r_i − mean_g) / (std_g + ε)`, with verl's conventions, which produced
 * the SEC and CDAS numbers: `std` is the unbiased (G−1) standard deviation,
 * `ε = 1e-6` is added (not max'ed), and a group of size 1 gets mean 0, std 1.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export type Estimator = "grpo" | "rloo" | "mean"

/**
 * @since 0.1.0
 * @category models
 */
export interface AdvantageOptions {
  readonly estimator: Estimator
  /** ε in `std + ε` (verl: 1e-6). */
  readonly epsilon: number
  /** `unbiased` (verl's torch.std, the default) or `population`. */
  readonly std: "unbiased" | "population"
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const defaults: AdvantageOptions = { estimator: "grpo", epsilon: 1e-6, std: "unbiased" }

/**
 * Mean of a group's rewards.
 *
 * @since 0.1.0
 * @category math
 */
export const mean = (xs: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[i]!
  return xs.length === 0 ? 0 : s / xs.length
}

/**
 * Standard deviation with divisor `G − 1` (unbiased) or `G` (population).
 *
 * @since 0.1.0
 * @category math
 */
export const std = (xs: ArrayLike<number>, kind: "unbiased" | "population" = "unbiased"): number => {
  const n = xs.length
  const divisor = kind === "unbiased" ? n - 1 : n
  if (divisor <= 0) return 0
  const m = mean(xs)
  let s = 0
  for (let i = 0; i < n; i++) s += (xs[i]! - m) ** 2
  return Math.sqrt(s / divisor)
}

/**
 * True when every reward in the group is identical: the group carries no
 * learning signal (its advantages are all 0). This is TRL's
 * `frac_reward_zero_std` criterion and the sparse-KL mask criterion of
 * AdaCuRL (spec §1.5 step 4, robust form).
 *
 * @since 0.1.0
 * @category math
 */
export const isZeroVariance = (rewards: ArrayLike<number>): boolean => {
  for (let i = 1; i < rewards.length; i++) if (rewards[i] !== rewards[0]) return false
  return true
}

/**
 * Advantages of one group.
 *
 * - `grpo`: `(r − mean) / (std + ε)`; size-1 groups use mean 0, std 1 (verl).
 * - `rloo`: `r_i − mean_{j≠i} r_j` (leave-one-out baseline); size-1 groups give `r`.
 * - `mean`: `r − mean`, no std normalisation (PCL's objective, verl
 *   `norm_adv_by_std_in_grpo=False`); size-1 groups give `r`.
 *
 * @since 0.1.0
 * @category math
 */
export const groupAdvantages = (rewards: ArrayLike<number>, options: AdvantageOptions = defaults): Float64Array => {
  const n = rewards.length
  const out = new Float64Array(n)
  if (n === 1) {
    out[0] = rewards[0]!
    return out
  }
  const m = mean(rewards)
  switch (options.estimator) {
    case "grpo": {
      const denom = std(rewards, options.std) + options.epsilon
      for (let i = 0; i < n; i++) out[i] = (rewards[i]! - m) / denom
      return out
    }
    case "rloo": {
      const scale = n / (n - 1)
      for (let i = 0; i < n; i++) out[i] = scale * (rewards[i]! - m)
      return out
    }
    case "mean": {
      for (let i = 0; i < n; i++) out[i] = rewards[i]! - m
      return out
    }
  }
}

/**
 * Mean |Â| over a group: SEC's bandit reward for the group's arm (SEC Alg. 1,
 * outcome rewards, so the per-token average equals |Â_i|).
 *
 * @since 0.1.0
 * @category math
 */
export const meanAbs = (xs: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += Math.abs(xs[i]!)
  return xs.length === 0 ? 0 : s / xs.length
}

/**
 * How the KL term is weighted per group.
 *
 * - `sparse`: weight 0 for zero-variance groups, 1 otherwise (AdaCuRL's
 *   conditional KL, spec §1.5 step 4).
 * - `dense`: weight 1 everywhere (standard GRPO).
 *
 * @since 0.1.0
 * @category models
 */
export type KlMode = "sparse" | "dense"

/**
 * The KL weight for a group with these rewards.
 *
 * @since 0.1.0
 * @category math
 */
export const klWeight = (rewards: ArrayLike<number>, mode: KlMode): number =>
  mode === "dense" ? 1 : isZeroVariance(rewards) ? 0 : 1
