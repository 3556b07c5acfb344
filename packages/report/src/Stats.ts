/**
 * Small statistics over seeds: mean, sample standard deviation and the 95 %
 * confidence interval of the mean from Student's t (two-sided, n − 1 degrees
 * of freedom), the usual choice for a handful of seeds.
 *
 * @since 0.1.0
 */

/** t_{0.975, df} for df = 1..30 (standard tables). */
const t975 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042
]

/**
 * Student's t quantile at 0.975 (1.96 beyond 30 degrees of freedom, within 2 %).
 *
 * @since 0.1.0
 * @category statistics
 */
export const tQuantile975 = (df: number): number => (df < 1 ? Number.NaN : df <= 30 ? t975[df - 1]! : 1.96)

/**
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly n: number
  readonly mean: number
  readonly sd: number
  /** Half-width of the 95 % interval of the mean (NaN for n < 2). */
  readonly ci95: number
}

/**
 * Mean, sd and 95 % interval of the finite values in `xs`.
 *
 * @since 0.1.0
 * @category statistics
 */
export const summarize = (xs: ReadonlyArray<number>): Summary => {
  const v = xs.filter((x) => Number.isFinite(x))
  const n = v.length
  if (n === 0) return { n, mean: Number.NaN, sd: Number.NaN, ci95: Number.NaN }
  const mean = v.reduce((a, b) => a + b, 0) / n
  if (n === 1) return { n, mean, sd: Number.NaN, ci95: Number.NaN }
  const sd = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1))
  return { n, mean, sd, ci95: tQuantile975(n - 1) * sd / Math.sqrt(n) }
}

/**
 * The first `x` at which the piecewise-linear curve through `points` (sorted
 * by x) reaches `target`, interpolating between the two points around the
 * crossing; undefined if it never does.
 *
 * @since 0.1.0
 * @category statistics
 */
export const firstCrossing = (
  points: ReadonlyArray<{ readonly x: number; readonly y: number }>,
  target: number
): number | undefined => {
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!
    if (!(p.y >= target)) continue
    const q = points[i - 1]
    if (q === undefined || !Number.isFinite(q.y) || p.y === q.y) return p.x
    return q.x + (p.x - q.x) * ((target - q.y) / (p.y - q.y))
  }
  return undefined
}
