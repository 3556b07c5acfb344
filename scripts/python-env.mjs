#!/usr/bin/env node
/**
 * Prepares the Python environment of the PyTorch worker: `.venv` in the repository root.
 *
 *   node scripts/python-env.mjs            # create or confirm .venv, print what it did
 *   node scripts/python-env.mjs --python   # same, then print only the interpreter's path on stdout
 *   node scripts/python-env.mjs --force    # rebuild even if the stamp says it is current
 *
 * Idempotent and offline (DESIGN §1 "Python env"):
 * 1. `ZPD_PYTHON` set: that interpreter is used as it is (it must import torch); nothing is built.
 * 2. `.venv/zpd-env.json` (the stamp, written last) matches this script's recipe and the venv's
 *    python still imports torch: nothing to do.
 * 3. The machine image's local wheelhouse exists (`/opt/pypi/simple`): a fresh venv with torch,
 *    transformers, safetensors, tokenizers and tensorboard, installed with pip from `file://`
 *    indexes only (pip's default index is unreachable here and would hang for minutes).
 * 4. Otherwise, a system Python that imports torch (Debian's `python3-torch`): a venv on top of
 *    its site-packages (`--system-site-packages`), so every caller still runs `.venv/bin/python`.
 * 5. Neither: an error that says what to install.
 *
 * Progress goes to stderr, so `--python` can be captured.
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const venv = join(root, ".venv")
const venvPython = join(venv, "bin", "python")
const stampFile = join(venv, "zpd-env.json")

/** The recipe: change any of it and the stamp no longer matches, so the venv is rebuilt. */
const wheelhouse = {
  indexUrl: process.env.ZPD_PIP_INDEX_URL ?? "file:///opt/pypi/simple",
  extraIndexUrl: process.env.ZPD_PIP_EXTRA_INDEX_URL ?? "file:///opt/pypi-more/simple",
  findLinks: process.env.ZPD_PIP_FIND_LINKS ?? "/opt/wheels"
}
const packages = ["torch", "transformers", "safetensors", "tokenizers", "tensorboard"]
const RECIPE_VERSION = 1

const say = (line) => process.stderr.write(`[python-env] ${line}\n`)
const fail = (line) => {
  process.stderr.write(`[python-env] ERROR: ${line}\n`)
  process.exit(1)
}

const run = (cmd, args, options = {}) => spawnSync(cmd, args, { encoding: "utf8", ...options })

/** `{torch, transformers}` versions an interpreter imports, or `undefined` if it cannot import torch. */
const probe = (python) => {
  const r = run(python, [
    "-c",
    "import json, torch\nfrom importlib import metadata\ntry:\n t = metadata.version('transformers')\nexcept Exception:\n t = None\n" +
    "print(json.dumps({'torch': torch.__version__, 'transformers': t}))"
  ])
  if (r.status !== 0) return undefined
  try {
    return JSON.parse(r.stdout.trim().split("\n").at(-1))
  } catch {
    return undefined
  }
}

const describe = (v) => `torch ${v.torch}, ${v.transformers ? `transformers ${v.transformers}` : "no transformers"}`

const localIndexPresent = () =>
  existsSync(fileURLToPath(wheelhouse.indexUrl.startsWith("file://") ? wheelhouse.indexUrl : "file:///nonexistent"))

/** A base interpreter for the venv: `ZPD_PYTHON_BASE`, else the first of python3 / /usr/bin/python3 that has `venv`. */
const baseCandidates = () => [process.env.ZPD_PYTHON_BASE, "python3", "/usr/bin/python3"].filter(Boolean)

const hasVenvModule = (python) => run(python, ["-c", "import venv, ensurepip"]).status === 0

const pythonVersion = (python) => run(python, ["-c", "import sys; print(sys.version.split()[0])"]).stdout?.trim()

const recipeFor = (mode, base) => {
  const recipe = { version: RECIPE_VERSION, mode, base, python: pythonVersion(base), packages, wheelhouse }
  return { ...recipe, hash: createHash("sha256").update(JSON.stringify(recipe)).digest("hex").slice(0, 16) }
}

const readStamp = () => {
  try {
    return JSON.parse(readFileSync(stampFile, "utf8"))
  } catch {
    return undefined
  }
}

const createVenv = (base, systemSitePackages) => {
  rmSync(venv, { recursive: true, force: true })
  const args = ["-m", "venv", ...(systemSitePackages ? ["--system-site-packages"] : []), venv]
  say(`creating .venv with ${base} (${pythonVersion(base)})${systemSitePackages ? " on its system site-packages" : ""}`)
  const r = run(base, args, { stdio: ["ignore", "inherit", "inherit"] })
  if (r.status !== 0) fail(`${base} ${args.join(" ")} exited with ${r.status ?? r.signal}`)
}

const pipInstall = () => {
  const args = [
    "-m",
    "pip",
    "install",
    "--disable-pip-version-check",
    "--no-input",
    "--progress-bar",
    "off",
    "-q",
    "--index-url",
    wheelhouse.indexUrl,
    "--extra-index-url",
    wheelhouse.extraIndexUrl,
    "--find-links",
    wheelhouse.findLinks,
    ...packages
  ]
  say(
    `pip install ${
      packages.join(" ")
    } from the local wheelhouse (${wheelhouse.indexUrl}, ${wheelhouse.extraIndexUrl}, ${wheelhouse.findLinks}); about a minute`
  )
  // PIP_CONFIG_FILE=/dev/null: a user's pip.conf cannot add an unreachable index behind our back.
  const r = run(venvPython, args, {
    stdio: ["ignore", "inherit", "pipe"],
    env: { ...process.env, PIP_CONFIG_FILE: "/dev/null", PIP_NO_INPUT: "1" },
    timeout: 15 * 60 * 1000
  })
  // pip warns once per index that lacks a project; those lines are noise, real errors are kept.
  const errors = (r.stderr ?? "").split("\n").filter((l) =>
    l.trim() !== "" && !/is ignored: it is neither a file nor a directory/.test(l)
  )
  if (errors.length > 0) process.stderr.write(errors.map((l) => `[python-env] pip: ${l}`).join("\n") + "\n")
  if (r.status !== 0) {
    fail(
      `pip install failed (${
        r.status ?? r.signal
      }); see the pip lines above. Remove .venv and retry, or set ZPD_PYTHON to a Python with torch.`
    )
  }
}

const main = () => {
  const argv = process.argv.slice(2)
  const printPython = argv.includes("--python")
  const force = argv.includes("--force")
  const started = Date.now()
  const done = (python, what) => {
    say(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    if (printPython) process.stdout.write(python + "\n")
  }

  if (process.env.ZPD_PYTHON) {
    const python = process.env.ZPD_PYTHON
    const v = probe(python)
    if (!v) fail(`ZPD_PYTHON=${python} cannot import torch; unset it to let this script build .venv`)
    return done(python, `using ZPD_PYTHON=${python}: ${describe(v)}`)
  }

  const base = baseCandidates().find(hasVenvModule)
  if (!base) {
    fail(
      `no Python with the venv module (tried ${
        baseCandidates().join(", ")
      }); install python3-venv, or set ZPD_PYTHON to a Python with torch`
    )
  }

  const systemTorch = () => [...new Set(["/usr/bin/python3", base])].find((p) => probe(p) !== undefined)
  const mode = localIndexPresent() ? "wheelhouse" : "system-torch"
  const recipe = recipeFor(mode, mode === "wheelhouse" ? base : (systemTorch() ?? base))
  const stamp = readStamp()
  if (!force && stamp?.hash === recipe.hash && existsSync(venvPython)) {
    const v = probe(venvPython)
    if (v) return done(venvPython, `.venv is current (${describe(v)}; recipe ${recipe.hash})`)
    say(".venv's stamp matches but its python cannot import torch: rebuilding")
  } else if (stamp) {
    say(
      force
        ? "--force: rebuilding .venv"
        : `.venv was built by another recipe (${stamp.hash} ≠ ${recipe.hash}): rebuilding`
    )
  }

  if (mode === "wheelhouse") {
    createVenv(base, false)
    pipInstall()
  } else {
    const system = systemTorch()
    if (!system) {
      fail(
        `no local wheelhouse at ${wheelhouse.indexUrl} and no system Python with torch. ` +
          "Install Debian's PyTorch (apt-get install -y python3-torch), or set ZPD_PYTHON to a Python with torch " +
          "(ZPD_PIP_INDEX_URL / ZPD_PIP_EXTRA_INDEX_URL / ZPD_PIP_FIND_LINKS point this script at another local wheelhouse)."
      )
    }
    say(`no local wheelhouse at ${wheelhouse.indexUrl}: falling back to ${system}'s torch (Debian python3-torch)`)
    createVenv(system, true)
  }
  const v = probe(venvPython)
  if (!v) fail(`.venv was built but ${venvPython} cannot import torch`)
  const tmp = `${stampFile}.tmp`
  writeFileSync(tmp, JSON.stringify({ ...recipe, installed: v, builtAt: new Date().toISOString() }, null, 2) + "\n")
  renameSync(tmp, stampFile)
  done(venvPython, `.venv ready: ${describe(v)}`)
}

main()
