/**
 * Growable typed arrays.
 *
 * @internal
 */

/** A copy of `array` in a new array of the same type with room for `length` items. @internal */
export const grown = <A extends Float64Array | Int32Array>(array: A, length: number): A => {
  const out = new (array.constructor as { new(length: number): A })(length)
  out.set(array)
  return out
}
