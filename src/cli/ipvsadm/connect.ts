import { createConnection, type Socket } from "node:net";
import { API_VERSION, type Reply, type Request } from "../../control/api.js";
import { type IpvsClient, IpvsError } from "./client.js";

/** Where the daemon listens unless TSLVS_SOCKET says otherwise. */
export const DEFAULT_SOCKET = "/run/tslvs/tslvs.sock";

/**
 * A client of the daemon's control socket: JSON lines, one request `{"v":1,"id":N,"op":...}` and
 * one reply `{"v":1,"id":N,"ok":true,"result":...}` or `{..."ok":false,"errno":"ESRCH",...}` each.
 * Connection failures reject with an IpvsError carrying the socket's errno (ENOENT, ECONNREFUSED,
 * EACCES ...).
 */
export function connectSocket(path: string): Promise<IpvsClient> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const onError = (e: NodeJS.ErrnoException) => reject(new IpvsError(e.code ?? "EIO", e.message));
    sock.once("error", onError);
    sock.once("connect", () => {
      sock.off("error", onError);
      resolve(new SocketClient(sock));
    });
  });
}

class SocketClient implements IpvsClient {
  private nextId = 1;
  private buffered = "";
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(private readonly sock: Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => this.onData(chunk));
    sock.on("error", (e: NodeJS.ErrnoException) => this.failAll(new IpvsError(e.code ?? "EIO", e.message)));
    sock.on("close", () => this.failAll(new IpvsError("ECONNRESET", "the daemon closed the connection")));
  }

  call<T>(req: Request): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(`${JSON.stringify({ v: API_VERSION, id, ...req })}\n`);
    });
  }

  close(): void {
    this.sock.end();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl = this.buffered.indexOf("\n");
    while (nl >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      if (line.trim() !== "") this.onLine(line);
      nl = this.buffered.indexOf("\n");
    }
  }

  private onLine(line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      this.failAll(new IpvsError("EPROTO", "the daemon sent a line that is not JSON"));
      return;
    }
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new IpvsError(reply.errno, reply.message));
  }

  private failAll(e: Error): void {
    for (const w of this.pending.values()) w.reject(e);
    this.pending.clear();
  }
}
