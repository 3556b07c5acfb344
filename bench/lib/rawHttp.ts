/**
 * A lean HTTP/1.1 load generator for the benchmarks: one keep-alive
 * `node:net` socket per client, requests written from prebuilt bytes, replies
 * framed by `content-length` only (no header objects, no chunked encoding).
 * It exists so that a benchmark measures the server rather than its own
 * client: `node:http`'s client spends about as much CPU per request as the
 * server under test, on the same cores. It understands only what zpd's
 * servers send (a status line, headers with `content-length`, a body).
 */
import { Buffer } from "node:buffer"
import * as net from "node:net"

/** One reply: its status, its body bytes, and the milliseconds from write to the last body byte. */
export interface Reply {
  readonly status: number
  readonly body: Buffer
  readonly ms: number
}

const headerEnd = Buffer.from("\r\n\r\n")
const contentLength = /\r\ncontent-length:\s*(\d+)/i

/**
 * The bytes of one request: request line, `host`, the given headers and,
 * with a body, `content-type: application/json` and its length.
 */
export const encodeRequest = (
  method: string,
  path: string,
  headers: Readonly<Record<string, string>>,
  body?: string | Buffer
): Buffer => {
  const bytes = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : body
  let head = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
  if (bytes !== undefined) head += `content-type: application/json\r\ncontent-length: ${bytes.length}\r\n`
  head += "\r\n"
  return bytes === undefined ? Buffer.from(head, "latin1") : Buffer.concat([Buffer.from(head, "latin1"), bytes])
}

/**
 * A keep-alive connection that sends one request at a time (a closed-loop
 * client) and resolves each with its {@link Reply}.
 */
export class Connection {
  private readonly socket: net.Socket
  private pending: Buffer = Buffer.alloc(0)
  private waiting:
    | { readonly t0: number; readonly resolve: (r: Reply) => void; readonly reject: (e: Error) => void }
    | undefined
  private failure: Error | undefined

  private constructor(socket: net.Socket) {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => this.onData(chunk))
    const fail = (e: Error) => {
      this.failure = e
      const w = this.waiting
      this.waiting = undefined
      w?.reject(e)
    }
    socket.on("error", fail)
    socket.on("close", () => fail(new Error("connection closed by the server")))
  }

  /** Opens a connection to `127.0.0.1:port`. */
  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1")
      socket.once("connect", () => resolve(new Connection(socket)))
      socket.once("error", reject)
    })
  }

  /** Sends `request` (from {@link encodeRequest}) and waits for its whole reply. */
  send(request: Buffer): Promise<Reply> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.waiting !== undefined) return Promise.reject(new Error("one request at a time per connection"))
    return new Promise((resolve, reject) => {
      this.waiting = { t0: performance.now(), resolve, reject }
      this.socket.write(request)
    })
  }

  close(): void {
    this.socket.destroy()
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    const end = this.pending.indexOf(headerEnd)
    if (end < 0) return
    const head = this.pending.toString("latin1", 0, end)
    const length = contentLength.exec(head)
    if (length === null) {
      this.socket.destroy(new Error(`reply without content-length: ${head.split("\r\n")[0]}`))
      return
    }
    const total = end + 4 + Number(length[1])
    if (this.pending.length < total) return
    const body = this.pending.subarray(end + 4, total)
    if (this.pending.length > total) {
      this.socket.destroy(new Error(`${this.pending.length - total} bytes after a reply nobody asked for`))
      return
    }
    this.pending = Buffer.alloc(0)
    const w = this.waiting
    this.waiting = undefined
    w?.resolve({ status: Number(head.slice(9, 12)), body, ms: performance.now() - w.t0 })
  }
}
