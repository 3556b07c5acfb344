/**
 * JSON Lines reading shared by every file zpd reads line by line (run
 * metrics, the server's journal, difficulty tables): numbered, blank lines
 * skipped, parse failures reported with their line instead of thrown.
 *
 * @since 0.3.0
 */

/**
 * One non-blank line: its 1-based number and parsed value, or the parse
 * error. `last` is true when no non-blank line follows (a torn final write).
 *
 * @since 0.3.0
 * @category models
 */
export type Record =
  | { readonly line: number; readonly value: unknown; readonly error?: undefined }
  | { readonly line: number; readonly value?: undefined; readonly error: string; readonly last: boolean }

/**
 * The non-blank lines of `text`, parsed in order.
 *
 * @since 0.3.0
 * @category parsing
 */
export function* records(text: string): Generator<Record> {
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line.length === 0) continue
    try {
      yield { line: i + 1, value: JSON.parse(line) }
    } catch (e) {
      yield { line: i + 1, error: String(e), last: lines.slice(i + 1).every((l) => l.trim().length === 0) }
    }
  }
}

/**
 * Is `value` a JSON object (not an array, not null)?
 *
 * @since 0.3.0
 * @category guards
 */
export const isObject = (value: unknown): value is { readonly [key: string]: unknown } =>
  typeof value === "object" && value !== null && !Array.isArray(value)
