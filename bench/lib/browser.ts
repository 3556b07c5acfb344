/**
 * Opens a report in headless Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser download), counts each chart's drawn data marks
 * (children of Vega's `g.role-mark` groups with a non-empty bounding box) and
 * saves a full-page screenshot. A fresh profile directory (playwright's
 * `userDataDir`, i.e. `--user-data-dir`) per call. The flags keep Chromium off the network,
 * which this machine does not have.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import process from "node:process"
import { pathToFileURL } from "node:url"
import { chromium } from "playwright-core"

export const chromiumPath = process.env["ZPD_CHROMIUM"] ?? "/usr/bin/chromium"

export interface ChartMarks {
  readonly id: string
  /** Data marks with a non-empty box. */
  readonly marks: number
  readonly width: number
  readonly height: number
}

export interface PageCheck {
  readonly charts: ReadonlyArray<ChartMarks>
  readonly tables: number
  /** Requests the page made other than its own file (must be none). */
  readonly requests: ReadonlyArray<string>
  readonly screenshot: string
}

export const checkReport = async (htmlPath: string, screenshotPath: string): Promise<PageCheck> => {
  const profile = mkdtempSync(join(tmpdir(), "zpd-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1300, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
  try {
    const page = await context.newPage()
    const url = pathToFileURL(resolve(htmlPath)).href
    const requests: Array<string> = []
    page.on("request", (r) => {
      if (r.url() !== url) requests.push(r.url())
    })
    await page.goto(url, { waitUntil: "load" })
    const result = await page.evaluate(() => {
      const charts = Array.from(document.querySelectorAll("figure.chart")).map((figure) => {
        const svg = figure.querySelector("svg")
        const box = svg?.getBoundingClientRect()
        const marks = svg === null
          ? 0
          : Array.from(svg.querySelectorAll("g.role-mark > *")).filter((el) => {
            const b = (el as SVGGraphicsElement).getBBox()
            return b.width > 0 || b.height > 0
          }).length
        return {
          id: figure.getAttribute("data-chart") ?? "?",
          marks,
          width: box?.width ?? 0,
          height: box?.height ?? 0
        }
      })
      return { charts, tables: document.querySelectorAll("table.results tbody tr").length }
    })
    await page.screenshot({ path: screenshotPath, fullPage: true })
    return { ...result, requests, screenshot: screenshotPath }
  } finally {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  }
}
