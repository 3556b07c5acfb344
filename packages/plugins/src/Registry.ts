/**
 * Curriculum expressions: one string names a curriculum or a hybrid, e.g.
 * `sec`, `adacurl.gate > sec(arms=bucket)`, `pcl.prefilter(k=8) > cdas` or
 * `sec > dapo`. `zpd run <expr>` and a curriculum server parse them here.
 *
 * Grammar (whitespace is free between tokens):
 * ```
 * expression := term ( ">" term )*
 * term       := name [ "(" [ option ( "," option )* ] ")" ]
 * name       := word ( "." word )*          word = [A-Za-z0-9_-]+
 * option     := key "=" value               key = word ( "." word )*   (nested: fine.samples=32)
 * value      := number | true | false | word | "quoted string" | "[" [ value ( "," value )* ] "]"
 * ```
 * The terms must read `gate* prefilter* sampler postfilter*`; a name that is
 * a whole curriculum (`adacurl`, `pcl`) stands for its parts and counts as
 * them. Names: {@link names}. Errors are `ConfigError`s naming the bad token,
 * its column and the valid names.
 *
 * The result is a {@link Recipe}: the plugin, and the pipeline and loss its
 * parts need (AdaCuRL's reward schedule, sparse KL and β; a post-filter's
 * stage: DAPO's dynamic sampling, online filtering or SPEED's screening; else
 * the standard GRPO step with sparse KL).
 *
 * @since 0.2.0
 */
import type * as Curriculum from "@zpd/core/Curriculum"
import { ConfigError } from "@zpd/core/Errors"
import type * as Errors from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import * as Pipeline from "@zpd/core/Pipeline"
import type * as Runtime from "@zpd/core/Runtime"
import * as Stages from "@zpd/core/Stages"
import * as Either from "effect/Either"
import * as AdaCurl from "./AdaCurl.ts"
import * as AdaRft from "./AdaRft.ts"
import * as Baselines from "./Baselines.ts"
import * as Cdas from "./Cdas.ts"
import * as Dapo from "./Dapo.ts"
import * as Dump from "./Dump.ts"
import * as Greso from "./Greso.ts"
import * as OfflineFilter from "./OfflineFilter.ts"
import * as OnlineFilter from "./OnlineFilter.ts"
import * as Pcl from "./Pcl.ts"
import * as Prioritized from "./Prioritized.ts"
import * as Sec from "./Sec.ts"
import * as Speed from "./Speed.ts"

/**
 * What every parse needs: the verifier (AdaCuRL's estimation and every
 * pipeline's reward).
 *
 * @since 0.2.0
 * @category models
 */
export interface ParseOptions {
  readonly verifier: Stages.Verifier
}

/**
 * A parsed expression, ready for `Pipeline.run(recipe.pipeline, recipe.plugin, { loss: recipe.loss, … })`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Recipe {
  readonly name: string
  readonly plugin: Curriculum.Plugin<Errors.RuntimeError, Runtime.InferenceRuntime | Runtime.TrainerRuntime>
  readonly pipeline: Pipeline.Pipeline<unknown, Errors.ZpdError, Runtime.InferenceRuntime | Runtime.TrainerRuntime>
  readonly loss: Partial<Runtime.LossConfig>
}

type Options = Record<string, unknown>
type AnyChain = Part.Composition<Part.Kind, Part.Kind, any, any>

interface Entry {
  readonly kinds: ReadonlyArray<Part.Kind>
  readonly doc: string
  readonly make: (options: Options, parse: ParseOptions) => AnyChain
}

const adacurlOptions = (options: Options, parse: ParseOptions): AdaCurl.Options => ({
  verifier: parse.verifier,
  ...options
})

const entries: Readonly<Record<string, Entry>> = {
  "adacurl.gate": {
    kinds: ["gate"],
    doc: "AdaCuRL's estimation, buckets and competence-driven expansion",
    make: (o, p) => AdaCurl.gate(adacurlOptions(o, p))
  },
  "adacurl.buckets": {
    kinds: ["gate"],
    doc: "AdaCuRL's estimation only: all of D eligible, labelled bucket",
    make: (o, p) => AdaCurl.buckets(adacurlOptions(o, p))
  },
  "offline-filter.gate": {
    kinds: ["gate"],
    doc: "the pre-filter baseline: pass rates estimated once, keep [pLow, pHigh] (default 0.2, 0.8)",
    make: (o, p) => OfflineFilter.gate({ verifier: p.verifier, ...o })
  },
  "pcl.prefilter": {
    kinds: ["prefilter"],
    doc: "PCL's value model: keep the B of k·B proposals closest to τ",
    make: (o) => Pcl.prefilter(o)
  },
  greso: { kinds: ["prefilter"], doc: "GRESO: skip likely zero-variance prompts", make: (o) => Greso.prefilter(o) },
  uniform: { kinds: ["sampler"], doc: "uniform draws from the pool", make: (o) => Baselines.uniform(o) },
  random: { kinds: ["sampler"], doc: "the random baseline", make: () => Baselines.random() },
  ordered: { kinds: ["sampler"], doc: "easy to hard by level", make: () => Baselines.ordered() },
  sec: { kinds: ["sampler"], doc: "SEC's bandit over arms", make: (o) => Sec.sampler(o) },
  cdas: { kinds: ["sampler"], doc: "CDAS's competence-difficulty alignment", make: (o) => Cdas.sampler(o) },
  adarft: {
    kinds: ["sampler"],
    doc: "AdaRFT: the B problems nearest a target difficulty that moves with the reward",
    make: (o) => AdaRft.sampler(o)
  },
  prioritized: {
    kinds: ["sampler"],
    doc: "Kimi k1.5's prioritized sampling: weight 1 − latest pass rate",
    make: (o) => Prioritized.sampler(o)
  },
  dump: { kinds: ["sampler"], doc: "DUMP: UCB over data sources (family) by mean |A|", make: (o) => Dump.sampler(o) },
  adacurl: {
    kinds: ["gate", "sampler"],
    doc: "AdaCuRL (adacurl.gate > uniform)",
    make: (o, p) => AdaCurl.plugin(adacurlOptions(o, p))
  },
  "offline-filter": {
    kinds: ["gate", "sampler"],
    doc: "the pre-filter baseline (offline-filter.gate > uniform)",
    make: (o, p) => OfflineFilter.plugin({ verifier: p.verifier, ...o })
  },
  pcl: { kinds: ["prefilter", "sampler"], doc: "PCL (pcl.prefilter > uniform)", make: (o) => Pcl.plugin(o) }
}

interface PostFilter {
  readonly doc: string
  readonly check: (options: Options) => ConfigError | undefined
  readonly pipeline: (options: Options, verifier: Stages.Verifier, name: string) => Recipe["pipeline"]
}

const postFilters: Readonly<Record<string, PostFilter>> = {
  dapo: {
    doc: "DAPO's dynamic sampling (genBatchSize, maxRounds); alone it runs over random",
    check: () => undefined,
    pipeline: (o, verifier, name) => Dapo.pipeline({ verifier, kl: "sparse", ...o }, name)
  },
  "online-filter": {
    doc: "online difficulty filtering: keep groups with pass rate in [pLow, pHigh] (default 0.2, 0.8), refill",
    check: (o) =>
      Either.match(OnlineFilter.validate({ ...OnlineFilter.defaults, ...o }), {
        onLeft: (e) => e,
        onRight: () => undefined
      }),
    pipeline: (o, verifier, name) => OnlineFilter.pipeline({ verifier, kl: "sparse", ...o }, name)
  },
  speed: {
    doc: "SPEED's screening: screen rollouts (default 4) per prompt, finish the group for 0 < pass < 1, refill",
    check: (o) =>
      Either.match(Speed.validate({ ...Speed.defaults, ...o }), { onLeft: (e) => e, onRight: () => undefined }),
    pipeline: (o, verifier, name) => Speed.pipeline({ verifier, kl: "sparse", ...o }, name)
  }
}

/**
 * Every name an expression may use, with what it is.
 *
 * @since 0.2.0
 * @category models
 */
export const names: ReadonlyArray<{ readonly name: string; readonly kind: string; readonly doc: string }> = [
  ...Object.entries(entries).map(([name, e]) => ({ name, kind: e.kinds.join(" > "), doc: e.doc })),
  ...Object.entries(postFilters).map(([name, p]) => ({ name, kind: "postfilter", doc: p.doc }))
]

const validNames = () => names.map((n) => n.name).join(", ")

// ---------------------------------------------------------------------------
// tokens
// ---------------------------------------------------------------------------

interface Token {
  readonly text: string
  readonly at: number
}

const tokenize = (expr: string): Either.Either<Array<Token>, ConfigError> => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < expr.length) {
    const c = expr[i]!
    if (/\s/.test(c)) {
      i++
    } else if ("()[],=>".includes(c)) {
      tokens.push({ text: c, at: i })
      i++
    } else if (c === "\"") {
      const end = expr.indexOf("\"", i + 1)
      if (end < 0) return Either.left(error({ text: expr.slice(i), at: i }, "a closing quote"))
      tokens.push({ text: expr.slice(i, end + 1), at: i })
      i = end + 1
    } else {
      const m = /^[A-Za-z0-9_.+-]+/.exec(expr.slice(i))
      if (m === null) return Either.left(error({ text: c, at: i }, "a name, an option or one of ( ) [ ] , = >"))
      tokens.push({ text: m[0], at: i })
      i += m[0].length
    }
  }
  return Either.right(tokens)
}

const error = (token: Token | undefined, expected: string) =>
  new ConfigError({
    field: token === undefined ? "curriculum expression (at its end)" : `curriculum expression, column ${token.at + 1}`,
    expected,
    actual: token === undefined ? "the end of the expression" : JSON.stringify(token.text)
  })

// ---------------------------------------------------------------------------
// parsing
// ---------------------------------------------------------------------------

interface Term {
  readonly name: Token
  readonly options: Options
}

const scalar = (token: Token): unknown => {
  const t = token.text
  if (t.startsWith("\"")) return t.slice(1, -1)
  if (t === "true") return true
  if (t === "false") return false
  if (/^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(t)) return Number(t)
  return t
}

const setPath = (target: Options, key: string, value: unknown) => {
  const path = key.split(".")
  let node = target
  for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Options
  node[path.at(-1)!] = value
}

const parseTerms = (tokens: ReadonlyArray<Token>): Either.Either<Array<Term>, ConfigError> => {
  const terms: Array<Term> = []
  let i = 0
  const peek = () => tokens[i]
  const expect = (text: string) => {
    const t = tokens[i]
    if (t?.text !== text) return error(t, `"${text}"`)
    i++
    return undefined
  }
  const isWord = (t: Token | undefined) => t !== undefined && /^[A-Za-z0-9_"+.-]/.test(t.text)
  const value = (): Either.Either<unknown, ConfigError> => {
    const t = peek()
    if (t?.text === "[") {
      i++
      const items: Array<unknown> = []
      while (peek()?.text !== "]") {
        const v = value()
        if (Either.isLeft(v)) return v
        items.push(v.right)
        if (peek()?.text === ",") i++
        else if (peek()?.text !== "]") return Either.left(error(peek(), `"," or "]"`))
      }
      i++
      return Either.right(items)
    }
    if (!isWord(t)) return Either.left(error(t, "a value (number, true, false, word, \"string\" or [list])"))
    i++
    return Either.right(scalar(t!))
  }
  for (;;) {
    const name = peek()
    if (!isWord(name) || name!.text.startsWith("\"")) {
      return Either.left(error(name, `a curriculum name: ${validNames()}`))
    }
    i++
    const options: Options = {}
    if (peek()?.text === "(") {
      i++
      while (peek()?.text !== ")") {
        const key = peek()
        if (!isWord(key)) return Either.left(error(key, "an option name, or \")\""))
        i++
        const eq = expect("=")
        if (eq) return Either.left(eq)
        const v = value()
        if (Either.isLeft(v)) return Either.left(v.left)
        setPath(options, key!.text, v.right)
        if (peek()?.text === ",") i++
        else if (peek()?.text !== ")") return Either.left(error(peek(), `"," or ")"`))
      }
      i++
    }
    terms.push({ name: name!, options })
    if (i === tokens.length) return Either.right(terms)
    const sep = expect(">")
    if (sep) return Either.left(sep)
  }
}

const order: Readonly<Record<Part.Kind | "postfilter", number>> = { gate: 0, prefilter: 1, sampler: 2, postfilter: 3 }

/**
 * Parses a curriculum or hybrid expression into a {@link Recipe}; see the
 * module docs for the grammar. Option values are checked when the plugin is
 * built (each part's `validate`), so a bad value fails `Pipeline.run` with a
 * `ConfigError` naming the field.
 *
 * **Example**
 * ```ts
 * const recipe = Either.getOrThrow(Registry.parse("adacurl.gate(fine.samples=32) > sec(arms=bucket)", { verifier }))
 * Pipeline.run(recipe.pipeline, recipe.plugin, { ...options, loss: recipe.loss })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const parse = (expr: string, options: ParseOptions): Either.Either<Recipe, ConfigError> =>
  Either.gen(function*() {
    const tokens = yield* tokenize(expr)
    const terms = yield* parseTerms(tokens)
    const chain: Array<AnyChain> = []
    let post: { readonly filter: PostFilter; readonly options: Options } | undefined
    let last = -1
    let lastName: Token | undefined
    for (const term of terms) {
      const name = term.name.text
      const entry = entries[name]
      const isPost = name in postFilters
      if (entry === undefined && !isPost) {
        return yield* Either.left(error(term.name, `a curriculum name: ${validNames()}`))
      }
      const kinds: ReadonlyArray<Part.Kind | "postfilter"> = isPost ? ["postfilter"] : entry!.kinds
      const first = order[kinds[0]!]
      if (first < last || (first === last && (kinds[0] === "sampler" || isPost && post !== undefined))) {
        return yield* Either.left(
          error(
            term.name,
            `terms in the order gate* prefilter* sampler postfilter*; "${name}" (${kinds.join(" > ")}) cannot follow "${
              lastName!.text
            }"`
          )
        )
      }
      last = order[kinds.at(-1)!]
      lastName = term.name
      if (isPost) {
        const filter = postFilters[name]!
        const invalid = filter.check(term.options)
        if (invalid !== undefined) return yield* Either.left(invalid)
        post = { filter, options: term.options }
      } else chain.push(entry!.make(term.options, options))
    }
    if (chain.length === 0) chain.push(Baselines.random())
    if (last < order.sampler) {
      return yield* Either.left(error(undefined, `a sampler to end the curriculum (${validNames()})`))
    }
    const plugin = (chain.length === 1 ? chain[0]! : chain.reduce((a, b) =>
      Part.andThen(a as any, b as any)
    )) as Recipe["plugin"]
    const hasAdaCurl = chain.some((c) => Part.partsOf(c).some((p) => p.name === "adacurl"))
    const adacurl = terms.find((t) => t.name.text.startsWith("adacurl"))?.options ?? {}
    const kl = "sparse" as const
    const pipeline: Recipe["pipeline"] = post !== undefined
      ? post.filter.pipeline(post.options, options.verifier, plugin.name)
      : hasAdaCurl
      ? AdaCurl.pipeline(adacurlOptions(adacurl, options), plugin.name)
      : Pipeline.make(plugin.name, Stages.standard({ verifier: options.verifier, kl }))
    return { name: plugin.name, plugin, pipeline, loss: hasAdaCurl ? AdaCurl.loss : {} }
  })
