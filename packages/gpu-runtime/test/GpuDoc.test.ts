/**
 * GPU.md keeps its promise that every command and code block says whether a
 * test runs it: the line before each fenced block is a `> **Tested** …` or
 * `> **Untested** …` mark, a Tested mark cites a test, and every test a mark
 * cites (a backticked `…test.ts` / `…py` path followed by › "name") exists.
 */
import { existsSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"

const root = new URL("../../../", import.meta.url)
const doc = readFileSync(new URL("packages/gpu-runtime/GPU.md", root), "utf8")

interface Block {
  readonly line: number
  readonly mark: string
}

/** Fenced blocks with the nearest non-blank line above each (its mark). */
export const blocksOf = (markdown: string): Array<Block> => {
  const lines = markdown.split("\n")
  const blocks: Array<Block> = []
  let inside = false
  lines.forEach((text, i) => {
    if (!text.startsWith("```")) return
    if (!inside) {
      let j = i - 1
      while (j >= 0 && lines[j]!.trim() === "") j--
      blocks.push({ line: i + 1, mark: j >= 0 ? lines[j]! : "" })
    }
    inside = !inside
  })
  return blocks
}

/** `path` › "name" pairs of a Tested mark (one path may be followed by several names). */
export const citationsOf = (mark: string): Array<{ readonly file: string; readonly name: string }> => {
  const out: Array<{ file: string; name: string }> = []
  const re = /`([^`]+\.(?:ts|py))`((?:\s*›\s*"[^"]+"(?:\s*(?:,|and)\s*"[^"]+")*)?)/g
  for (const m of mark.matchAll(re)) {
    for (const n of (m[2] ?? "").matchAll(/"([^"]+)"/g)) out.push({ file: m[1]!, name: n[1]! })
    if ((m[2] ?? "").trim() === "") out.push({ file: m[1]!, name: "" })
  }
  return out
}

describe("GPU.md", () => {
  const blocks = blocksOf(doc)

  it("has code blocks, each marked Tested or Untested on the line above", () => {
    expect(blocks.length).toBeGreaterThan(10)
    const unmarked = blocks.filter((b) => !/^> \*\*(Tested|Untested)\*\*/.test(b.mark))
    expect(unmarked.map((b) => `GPU.md:${b.line}: ${b.mark}`)).toEqual([])
  })

  it("every Tested mark cites a test, and every cited test exists under that name", () => {
    expect(blocks.filter((b) => b.mark.startsWith("> **Tested**")).length).toBeGreaterThan(5)
    const missing: Array<string> = []
    for (const b of blocks) {
      const cited = citationsOf(b.mark)
      if (b.mark.startsWith("> **Tested**") && cited.length === 0) {
        missing.push(`GPU.md:${b.line}: a Tested mark that cites no test file`)
      }
      for (const { file, name } of cited) {
        const url = new URL(file, root)
        if (!existsSync(url)) {
          missing.push(`GPU.md:${b.line}: ${file} does not exist`)
        } else if (name !== "" && !readFileSync(url, "utf8").includes(name)) {
          missing.push(`GPU.md:${b.line}: ${file} has no test named "${name}"`)
        }
      }
    }
    expect(missing).toEqual([])
  })

  it("the checker itself: an unmarked block and a citation of a missing test are found", () => {
    const sample =
      "intro\n\n```sh\nvllm serve x\n```\n\n> **Tested** by `a/b.test.ts` › \"one\" and \"two\".\n\n```ts\nx\n```\n"
    const found = blocksOf(sample)
    expect(found.map((b) => b.line)).toEqual([3, 9])
    expect(found[0]!.mark).toBe("intro")
    expect(citationsOf(found[1]!.mark)).toEqual([{ file: "a/b.test.ts", name: "one" }, {
      file: "a/b.test.ts",
      name: "two"
    }])
  })
})
