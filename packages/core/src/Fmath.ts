/**
 * Deterministic transcendental functions. `Math.exp` and `Math.log` are not
 * required to be correctly rounded, and V8 versions differ in the last bit
 * (Node 20 and Deno 2 do). zpd promises byte-identical metrics for a seed under
 * both, so everything that feeds a metric uses these instead: the classic
 * fdlibm algorithms (argument reduction plus a minimax polynomial) written
 * only with IEEE-754 `+ − × ÷`, which every engine rounds identically.
 * Accuracy is within 1 ulp of the true value.
 *
 * @since 0.1.0
 */

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0
const LO = 1 - HI

const highWord = (x: number): number => {
  f64[0] = x
  return u32[HI]! | 0
}

const fromWords = (hi: number, lo: number): number => {
  u32[HI] = hi >>> 0
  u32[LO] = lo >>> 0
  return f64[0]!
}

/** 2^k for integer k in [-1022, 1023]. */
const pow2 = (k: number): number => fromWords((k + 1023) << 20, 0)

const LN2_HI = 6.93147180369123816490e-01
const LN2_LO = 1.90821492927058770002e-10
const INV_LN2 = 1.44269504088896338700e+00
const P1 = 1.66666666666666019037e-01
const P2 = -2.77777777770155933842e-03
const P3 = 6.61375632143793436117e-05
const P4 = -1.65339022054652515390e-06
const P5 = 4.13813679705723846039e-08

/**
 * e^x.
 *
 * @since 0.1.0
 * @category math
 */
export const exp = (x: number): number => {
  if (Number.isNaN(x)) return x
  if (x > 709.782712893383973096) return Infinity
  if (x < -745.13321910194110842) return 0
  if (x === 0) return 1
  const k = Math.trunc(x * INV_LN2 + (x < 0 ? -0.5 : 0.5))
  const hi = x - k * LN2_HI
  const lo = k * LN2_LO
  const r = hi - lo
  const t = r * r
  const c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))))
  const y = 1 - ((lo - (r * c) / (2 - c)) - hi)
  if (k >= -1021) return k > 1023 ? y * pow2(1023) * pow2(k - 1023) : y * pow2(k)
  return y * pow2(k + 1000) * pow2(-1000)
}

const LG1 = 6.666666666666735130e-01
const LG2 = 3.999999999940941908e-01
const LG3 = 2.857142874366239149e-01
const LG4 = 2.222219843214978396e-01
const LG5 = 1.818357216161805012e-01
const LG6 = 1.531383769920937332e-01
const LG7 = 1.479819860511658591e-01

/**
 * Natural logarithm.
 *
 * @since 0.1.0
 * @category math
 */
export const log = (x: number): number => {
  if (Number.isNaN(x) || x < 0) return Number.NaN
  if (x === 0) return -Infinity
  if (x === Infinity) return Infinity
  let k = 0
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984 // 2^54: subnormals
    k -= 54
  }
  let hx = highWord(x)
  f64[0] = x
  const lx = u32[LO]!
  k += (hx >> 20) - 1023
  hx &= 0x000fffff
  const i = (hx + 0x95f64) & 0x100000
  const m = fromWords(hx | (i ^ 0x3ff00000), lx)
  k += i >> 20
  const f = m - 1
  if (f === 0) return k * LN2_HI + k * LN2_LO
  const s = f / (2 + f)
  const z = s * s
  const w = z * z
  const t1 = w * (LG2 + w * (LG4 + w * LG6))
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
  const R = t2 + t1
  const hfsq = 0.5 * f * f
  return k * LN2_HI - ((hfsq - (s * (hfsq + R) + k * LN2_LO)) - f)
}

/**
 * log(1 + x), accurate for small x.
 *
 * @since 0.1.0
 * @category math
 */
export const log1p = (x: number): number => {
  const u = 1 + x
  if (u === 1) return x
  // The correction term is 0/0 or ∞/∞ at these two points.
  if (u === 0) return -Infinity
  if (u === Infinity) return Infinity
  return log(u) - ((u - 1) - x) / u
}

/**
 * e^x − 1, accurate for small x.
 *
 * @since 0.1.0
 * @category math
 */
export const expm1 = (x: number): number => {
  if (x === 0) return x // keeps −0
  if (Math.abs(x) < 1e-3) return x + x * x * (0.5 + x * (1 / 6 + x * (1 / 24 + x * (1 / 120 + x / 720))))
  if (Math.abs(x) >= 1) return exp(x) - 1
  // Kahan's trick: `exp(x) − 1` alone cancels up to ~9 bits for 1e-3 ≤ |x| < 1;
  // dividing by log(exp(x)) cancels the rounding error of exp(x).
  const u = exp(x)
  return ((u - 1) * x) / log(u)
}

/**
 * The logistic function σ(z) = 1 / (1 + e^−z), stable for large |z|.
 *
 * @since 0.1.0
 * @category math
 */
export const sigmoid = (z: number): number => {
  if (z >= 0) return 1 / (1 + exp(-z))
  const e = exp(z)
  return e / (1 + e)
}

/**
 * log σ(z), stable for large |z|.
 *
 * @since 0.1.0
 * @category math
 */
export const logSigmoid = (z: number): number => (z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z)))
