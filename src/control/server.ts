import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { API_VERSION, type RequestOp } from "./api.js";
import { KNOWN_OPS } from "./api-handler.js";
import { errnoOf } from "./director-port.js";
import { type PeerCred, peerCred, peerCredAvailable } from "./peer-cred.js";

/** A request line longer than this is refused and the connection closed (a -R of a huge file stays far below). */
export const MAX_LINE_BYTES = 1 << 20;

export interface ServerLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ControlServerOptions {
  socketPath: string;
  /**
   * Carries out one request; throws an error with a string `errno` to refuse it. A Promise result is
   * replied to when it settles (a rejection with an `errno` refuses).
   */
  handle(req: Record<string, unknown>): unknown;
  /** Called when a request succeeded, before its reply is sent (the daemon saves its state here). */
  afterRequest?(op: RequestOp, req: Record<string, unknown>, peer: { pid: number; uid: number }): void;
  /** Whether a peer uid may use the socket: by default root and the daemon's own user. */
  allowUid?(uid: number): boolean;
  log: ServerLog;
  maxLineBytes?: number;
}

/**
 * The control socket: a Unix stream socket carrying JSON lines (docs/control-protocol.md). Only
 * the owner may use it: the socket file is mode 0600, and each connection's peer credentials
 * (SO_PEERCRED) are checked, so a socket made reachable by a chmod still refuses other users.
 */
export class ControlServer {
  private readonly connections = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
  ) {}

  static async listen(opts: ControlServerOptions): Promise<ControlServer> {
    if (!(await peerCredAvailable()))
      throw new Error("cannot read peer credentials (SO_PEERCRED through libc): refusing to serve");
    prepareSocketPath(opts.socketPath);
    await refuseIfLive(opts.socketPath);
    const ownUid = process.getuid?.() ?? 0;
    const allowUid = opts.allowUid ?? ((uid: number) => uid === 0 || uid === ownUid);
    const maxLine = opts.maxLineBytes ?? MAX_LINE_BYTES;
    let instance: ControlServer | null = null;
    const server = createServer((sock) => {
      instance?.connections.add(sock);
      sock.on("close", () => instance?.connections.delete(sock));
      serveConnection(sock, opts, allowUid, maxLine);
    });
    // The socket file is created by listen(): a umask makes it 0600 from its first moment.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(opts.socketPath, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(opts.socketPath, 0o600);
    instance = new ControlServer(server, opts.socketPath);
    return instance;
  }

  /** Stops accepting, closes open connections and removes the socket file. */
  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.socketPath);
    } catch {
      /* already gone */
    }
  }
}

/** Creates the socket's directory if needed (0755: the socket itself is owner-only). */
function prepareSocketPath(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
  }
}

/**
 * A socket file left by a daemon that died is removed; one that a live daemon answers on is not:
 * starting a second daemon on the same socket is refused.
 */
async function refuseIfLive(path: string): Promise<void> {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const c = connect(path);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", (e: NodeJS.ErrnoException) => resolve(e.code !== "ECONNREFUSED" && e.code !== "ENOENT"));
  });
  if (live) throw new Error(`another tslvs daemon is serving ${path}`);
  unlinkSync(path);
}

function reply(sock: Socket, obj: object): void {
  if (!sock.destroyed && sock.writable) sock.write(`${JSON.stringify(obj)}\n`);
}

function errorReply(sock: Socket, id: number, errno: string, message: string): void {
  reply(sock, { v: API_VERSION, id, ok: false, errno, message });
}

function serveConnection(
  sock: Socket,
  opts: ControlServerOptions,
  allowUid: (uid: number) => boolean,
  maxLine: number,
): void {
  sock.on("error", () => sock.destroy());
  const cred: PeerCred | null = peerCred(sock);
  if (!cred || !allowUid(cred.uid)) {
    opts.log.warn({ peer: cred }, "control connection refused: not root and not the daemon's user");
    errorReply(sock, 0, "EACCES", "permission denied: the control socket serves root and its owner only");
    sock.end();
    return;
  }
  const peer = { pid: cred.pid, uid: cred.uid };
  sock.setEncoding("utf8");
  // Pieces of the line not yet ended by a newline; each chunk is scanned once.
  let partial: string[] = [];
  let partialBytes = 0;
  sock.on("data", (chunk: string) => {
    let start = 0;
    let nl = chunk.indexOf("\n");
    while (nl >= 0) {
      partial.push(chunk.slice(start, nl));
      const line = partial.join("");
      partial = [];
      partialBytes = 0;
      if (line.trim() !== "") handleLine(sock, line, opts, peer);
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    }
    if (start < chunk.length) {
      const rest = chunk.slice(start);
      partial.push(rest);
      partialBytes += Buffer.byteLength(rest);
    }
    if (partialBytes > maxLine) {
      errorReply(sock, 0, "EMSGSIZE", `request line longer than ${maxLine} bytes`);
      partial = [];
      partialBytes = 0;
      sock.end();
      sock.pause();
    }
  });
}

function handleLine(
  sock: Socket,
  line: string,
  opts: ControlServerOptions,
  peer: { pid: number; uid: number },
): void {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    errorReply(sock, 0, "EINVAL", `malformed request (not JSON): ${(e as Error).message}`);
    return;
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    errorReply(sock, 0, "EINVAL", "malformed request: a request is a JSON object {v, id, op, ...}");
    return;
  }
  const req = msg as Record<string, unknown>;
  const id = typeof req.id === "number" && Number.isSafeInteger(req.id) ? req.id : 0;
  if (req.id !== undefined && id !== req.id) {
    errorReply(sock, 0, "EINVAL", "malformed request: id must be an integer");
    return;
  }
  if (req.v !== API_VERSION) {
    errorReply(
      sock,
      id,
      "EPROTO",
      `control protocol version ${JSON.stringify(req.v)} is not supported; this daemon speaks version ${API_VERSION}`,
    );
    return;
  }
  if (typeof req.op !== "string" || !KNOWN_OPS.has(req.op)) {
    errorReply(sock, id, "ENOSYS", `unknown op ${JSON.stringify(req.op)}`);
    return;
  }
  const op = req.op as RequestOp;
  let result: unknown;
  try {
    result = opts.handle(req);
  } catch (e) {
    failed(sock, id, op, e, opts, peer);
    return;
  }
  // A request that takes time (a capture) answers with a promise: the socket and every other
  // request are served meanwhile, and its reply follows when it settles.
  if (result instanceof Promise) {
    result.then(
      (r: unknown) => done(sock, id, op, req, r, opts, peer),
      (e: unknown) => failed(sock, id, op, e, opts, peer),
    );
    return;
  }
  done(sock, id, op, req, result, opts, peer);
}

function failed(
  sock: Socket,
  id: number,
  op: RequestOp,
  e: unknown,
  opts: ControlServerOptions,
  peer: { pid: number; uid: number },
): void {
  const errno = errnoOf(e);
  if (errno) {
    opts.log.debug({ op, errno, peer }, "request refused");
    errorReply(sock, id, errno, (e as Error).message ?? errno);
  } else {
    opts.log.error({ op, err: e, peer }, "request failed");
    errorReply(sock, id, "EIO", `internal error: ${(e as Error)?.message ?? String(e)}`);
  }
}

function done(
  sock: Socket,
  id: number,
  op: RequestOp,
  req: Record<string, unknown>,
  result: unknown,
  opts: ControlServerOptions,
  peer: { pid: number; uid: number },
): void {
  opts.log.debug({ op, peer }, "request done");
  try {
    opts.afterRequest?.(op, req, peer);
  } catch (e) {
    opts.log.error({ op, err: e }, "after-request work failed");
  }
  reply(sock, { v: API_VERSION, id, ok: true, result: result ?? null });
}
