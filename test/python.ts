import { existsSync } from "node:fs"
import { join } from "node:path"
import process from "node:process"

/**
 * The Python the tests use for the TensorBoard reader and friends: `$ZPD_PYTHON`,
 * else the project's `.venv/bin/python` (made by `npm test`), else `/work/venv/bin/python`.
 * Returns undefined when none exists.
 */
export const resolvePython = (root: string = process.cwd()): string | undefined =>
  [process.env["ZPD_PYTHON"], join(root, ".venv/bin/python"), "/work/venv/bin/python"].find(
    (p): p is string => p !== undefined && p.length > 0 && existsSync(p)
  )
