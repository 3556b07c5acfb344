/**
 * A {@link FetchAttempt} over Node's `node:http` with a keep-alive agent
 * whose `maxSockets` caps the sockets per endpoint (host and port). Chosen
 * by `HttpInference`'s `transport: "node"`, and by the default `"auto"` under
 * Node with `http:` endpoints; `fetch` is the portable path. On a loopback benchmark a request costs about a
 * third of the client CPU of `fetch` (undici's streams, abort handling and
 * response objects are the difference).
 *
 * `node:http` is imported when this transport is chosen, never at module
 * load, so the package still loads where it does not exist.
 *
 * @internal
 */
import { bodyCutOff, connectionFailed, type FetchAttempt, settle } from "./http.ts"

/**
 * Builds the attempt function: `maxSockets` sockets per endpoint, kept alive
 * between requests; `headers` on every request. Redirects are not followed
 * (`node:http` never does).
 *
 * @internal
 */
export const nodeAttempt = async (
  maxSockets: number,
  headers: Readonly<Record<string, string>>
): Promise<FetchAttempt> => {
  const http = await import("node:http")
  const agent = new http.Agent({ keepAlive: true, maxSockets })
  const getHeaders = { accept: "application/json", ...headers }
  return (method, url, body, signal) =>
    new Promise((resolve) => {
      let done = false
      const finish = (outcome: Parameters<typeof resolve>[0]) => {
        if (done) return
        done = true
        resolve(outcome)
      }
      const bytes = body === undefined ? undefined : Buffer.from(body, "utf8")
      let request: import("node:http").ClientRequest
      try {
        request = http.request(url, {
          method,
          agent,
          signal,
          headers: bytes === undefined
            ? getHeaders
            : { ...getHeaders, "content-type": "application/json", "content-length": bytes.length }
        }, (response) => {
          const chunks: Array<Buffer> = []
          response.on("data", (chunk: Buffer) => chunks.push(chunk))
          response.on("error", (e) => finish({ ok: false, failure: bodyCutOff(e) }))
          response.on("close", () => {
            if (!response.complete) finish({ ok: false, failure: bodyCutOff(new Error("the socket closed mid-reply")) })
          })
          response.on("end", () => {
            if (!response.complete) {
              return finish({ ok: false, failure: bodyCutOff(new Error("the reply ended early")) })
            }
            const header = (name: string) => {
              const value = response.headers[name]
              return Array.isArray(value) ? value[0] : value
            }
            finish(settle(response.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"), header))
          })
        })
      } catch (e) {
        return finish({ ok: false, failure: connectionFailed(e) })
      }
      request.on("error", (e) => finish({ ok: false, failure: connectionFailed(e) }))
      request.end(bytes)
    })
}
