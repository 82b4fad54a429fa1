import { connect as netConnect, type Socket } from "node:net";
import { IpvsError } from "../core/errors.js";
import { API_VERSION, type InfoEntry, type Request, type ResultOf } from "./api.js";

/**
 * What a client of the daemon offers, whoever serves it (the control socket, or the daemon's
 * request handler in process): one request, one reply; a refusal rejects with an IpvsError
 * carrying the kernel's errno name.
 */
export interface IpvsClient {
  call<T>(req: Request): Promise<T>;
  close(): void;
}

/**
 * A connection to the daemon's control socket. Requests may be pipelined; replies are matched by
 * id. A refused request rejects with a IpvsError whose `errno` is the kernel's errno name.
 */
export class SocketClient implements IpvsClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private partial: string[] = [];
  private closedWith: IpvsError | null = null;
  /** The daemon's getInfo answer, read when connecting. */
  info: InfoEntry | null = null;

  constructor(private readonly sock: Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => this.onData(chunk));
    sock.on("error", (e: NodeJS.ErrnoException) => this.fail(new IpvsError(e.code ?? "EIO", e.message)));
    sock.on("close", () => this.fail(new IpvsError("ECONNRESET", "the tslvs daemon closed the connection")));
  }

  /** The reply's result, typed by the request's op (or as the caller says, for the generic interface). */
  call<R extends Request>(req: R): Promise<ResultOf<R["op"]>>;
  call<T>(req: Request): Promise<T>;
  call(req: Request): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(`${JSON.stringify({ v: API_VERSION, id, ...req })}\n`);
    });
  }

  close(): void {
    this.sock.end();
    this.sock.unref();
  }

  /** Splits replies at newlines, scanning each chunk once (a listing can be tens of megabytes). */
  private onData(chunk: string): void {
    let start = 0;
    let nl = chunk.indexOf("\n");
    while (nl >= 0) {
      this.partial.push(chunk.slice(start, nl));
      const line = this.partial.length === 1 ? this.partial[0]! : this.partial.join("");
      this.partial = [];
      this.onReply(line);
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    }
    if (start < chunk.length) this.partial.push(chunk.slice(start));
  }

  private onReply(line: string): void {
    let r: { id?: unknown; ok?: unknown; result?: unknown; errno?: unknown; message?: unknown };
    try {
      r = JSON.parse(line);
    } catch {
      this.fail(new IpvsError("EPROTO", "the tslvs daemon sent a malformed reply"));
      return;
    }
    const errno = typeof r.errno === "string" ? r.errno : "EIO";
    const message = typeof r.message === "string" ? r.message : errno;
    // id 0 answers no request: the daemon refused the connection or the stream itself.
    if (r.id === 0 && r.ok === false) {
      this.fail(new IpvsError(errno, message));
      return;
    }
    const p = typeof r.id === "number" ? this.pending.get(r.id) : undefined;
    if (!p) return;
    this.pending.delete(r.id as number);
    if (r.ok === true) p.resolve(r.result);
    else p.reject(new IpvsError(errno, message));
  }

  private fail(err: IpvsError): void {
    if (!this.closedWith) this.closedWith = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.sock.destroy();
  }
}

/**
 * Connects to the daemon and asks for its info, as ipvsadm's initialisation does, so that a peer
 * the daemon refuses fails here. A failure rejects with a IpvsError whose errno says why:
 * ENOENT (no socket: no daemon), ECONNREFUSED (a stale socket), EACCES (not allowed: the socket
 * file's mode, or the daemon's check of the peer's credentials).
 */
export async function connect(socketPath: string): Promise<SocketClient> {
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = netConnect(socketPath);
    const onError = (e: NodeJS.ErrnoException) =>
      reject(new IpvsError(e.code ?? "EIO", `cannot connect to ${socketPath}: ${e.message}`));
    s.once("error", onError);
    s.once("connect", () => {
      s.off("error", onError);
      resolve(s);
    });
  });
  const client = new SocketClient(sock);
  client.info = await client.call({ op: "getInfo" });
  return client;
}
