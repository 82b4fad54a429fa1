/**
 * The daemon's HTTP endpoint (`tslvs start --http ADDR:PORT`): `GET /metrics` in the Prometheus text
 * format, and the dashboard: its page at `/` (docs/metrics.md, "Dashboard") and the JSON it polls
 * at `/api/dashboard`. Read-only; loopback unless an address says otherwise. The bodies come from
 * the daemon (`metrics`, `dashboard`): rendered between packet-loop turns, at most once a second,
 * requests in between (a storm of them) sharing the same body.
 *
 * With a token (`--http-token-file`) every request must carry it: `Authorization: Bearer TOKEN`
 * (Prometheus's `authorization: credentials_file`), or the `tslvs_token` cookie a browser gets from
 * the login form (`POST /login`). With a certificate (`--http-tls-cert`/`--http-tls-key`) it is
 * HTTPS. Oversized headers, slow clients and too many sockets are cut (docs/metrics.md, "Security").
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { closeSync, fstatSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { parseHostPort } from "../core/address.js";
import { DASHBOARD_ASSETS, DASHBOARD_CSP } from "./dashboard/assets.js";

export interface HttpAddress {
  host: string;
  port: number;
  /** A Unix socket instead of TCP (`unix:/run/tslvs/http.sock`): for a reverse proxy on the host. */
  path?: string;
}

/** "PORT", "ADDR:PORT", "[V6]:PORT" or "unix:/PATH"; a bare port means loopback. */
export function parseHttpAddress(text: string): HttpAddress {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (!path.startsWith("/"))
      throw new Error(`a Unix socket needs an absolute path: ${JSON.stringify(text)}`);
    return { host: "", port: 0, path };
  }
  // A port alone, or ":PORT": loopback (the endpoint is never exposed unless an address says so).
  const bare = /^:?(\d{1,5})$/.exec(text);
  if (bare && Number(bare[1]) <= 65535) return { host: "127.0.0.1", port: Number(bare[1]) };
  const hp = parseHostPort(text);
  if (!hp || hp.port === null) throw new Error(`not an address:port or a port: ${JSON.stringify(text)}`);
  return { host: hp.addr.toString(), port: hp.port };
}

/** What `--http-token-file` and `--http-tls-cert`/`--http-tls-key` name. */
export interface HttpSecurityFiles {
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** The endpoint's protection, read from those files; the limits are for tests. */
export interface HttpSecurity {
  /** Required on every request when set. */
  token?: string;
  /** PEM certificate chain and key: HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
  /** Milliseconds a client has to send its headers (default 10 s). */
  headersTimeoutMs?: number;
  /** Milliseconds a client has to send its whole request (default 10 s). */
  requestTimeoutMs?: number;
  /** Sockets open at once; more are closed on arrival (default 256). */
  maxConnections?: number;
}

/** The request headers' size at most, in bytes: a larger request is answered 431. */
export const MAX_HEADER_BYTES = 8 * 1024;
const COOKIE = "tslvs_token";
/** The login form's body at most: a token field, not an upload. */
const MAX_LOGIN_BODY = 4096;

/**
 * The bearer token: the file's first line, trimmed. Refused like an SSH key when group or others
 * have any access to it (anyone who can read it can read the metrics; anyone who can write it can
 * choose the token), when it is not a regular file, or when the line is empty.
 */
export function readTokenFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new Error(`--http-token-file ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    // The checks are on the opened file, not the path: a swap between check and read changes nothing.
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`--http-token-file ${path}: not a regular file`);
    if (st.mode & 0o077)
      throw new Error(
        `--http-token-file ${path}: group or others may access it (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}); ` +
          `make it private: chmod 600 ${path}`,
      );
    const token = (readFileSync(fd, "utf8").split(/\r?\n/, 1)[0] ?? "").trim();
    if (token === "") throw new Error(`--http-token-file ${path}: the first line is empty (no token)`);
    return token;
  } finally {
    closeSync(fd);
  }
}

/** Reads every file `files` names; throws a message naming the flag and the file when one is unusable. */
export function loadHttpSecurity(files: HttpSecurityFiles): HttpSecurity {
  const security: HttpSecurity = {};
  if (files.tokenFile !== undefined) security.token = readTokenFile(files.tokenFile);
  if ((files.tlsCert === undefined) !== (files.tlsKey === undefined))
    throw new Error("--http-tls-cert and --http-tls-key go together");
  if (files.tlsCert !== undefined && files.tlsKey !== undefined) {
    const read = (flag: string, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (e) {
        throw new Error(`${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
      }
    };
    security.tls = {
      cert: read("--http-tls-cert", files.tlsCert),
      key: read("--http-tls-key", files.tlsKey),
    };
  }
  return security;
}

/** Equal in constant time: both sides hashed first, so their lengths leak nothing either. */
function sameToken(given: string, token: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** The `tslvs_token` cookie's value, or null. */
function cookieToken(req: IncomingMessage): string | null {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== COOKIE) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return null;
    }
  }
  return null;
}

/** Whether the request carries the token (a bearer header, or the cookie). */
function authorized(req: IncomingMessage, token: string): boolean {
  const bearer = /^Bearer +(.+)$/i.exec(req.headers.authorization ?? "");
  if (bearer) return sameToken((bearer[1] ?? "").trim(), token);
  const cookie = cookieToken(req);
  return cookie !== null && sameToken(cookie, token);
}

/** The login page: no script, no style, posts only to itself. */
const LOGIN_CSP = "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function loginPage(res: ServerResponse, status: number, failed: boolean): void {
  const body = Buffer.from(
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tslvs: sign in</title></head>
<body><h1>tslvs</h1>
${failed ? "<p>Wrong token.</p>\n" : ""}<form method="post" action="/login">
<label>Token <input type="password" name="token" autocomplete="current-password" autofocus required></label>
<button type="submit">Sign in</button>
</form></body></html>
`,
  );
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": body.length,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": LOGIN_CSP,
    "referrer-policy": "no-referrer",
    ...(status === 401 ? { "www-authenticate": 'Bearer realm="tslvs"' } : {}),
  });
  res.end(body);
}

function unauthorized(res: ServerResponse): void {
  res
    .writeHead(401, { "www-authenticate": 'Bearer realm="tslvs"', "content-type": "text/plain" })
    .end("unauthorized: send Authorization: Bearer TOKEN (or sign in at /login)\n");
}

/** `POST /login`: the form's token; right → the cookie and back to `/`, wrong → 401 and the form. */
function login(req: IncomingMessage, res: ServerResponse, token: string, secure: boolean): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_LOGIN_BODY) {
      if (!res.headersSent)
        res.writeHead(413, { "content-type": "text/plain", connection: "close" }).end("too large\n");
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (res.headersSent || res.destroyed) return;
    const given = new URLSearchParams(Buffer.concat(chunks).toString("utf8")).get("token") ?? "";
    if (!sameToken(given.trim(), token)) {
      loginPage(res, 401, true);
      return;
    }
    const cookie = `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${secure ? "; Secure" : ""}`;
    res.writeHead(303, { location: "/", "set-cookie": cookie, "cache-control": "no-store" }).end();
  });
}

export class HttpEndpoint {
  /** The /metrics body, in parts (set by the daemon before the first request can arrive). */
  metrics: () => Promise<readonly Buffer[]> = async () => [];
  /**
   * The same body gzip-compressed, for clients that accept it (Prometheus does): a tenth of the
   * bytes to write per scrape. Null: never compressed.
   */
  metricsGzip: (() => Promise<readonly Buffer[]>) | null = null;
  /** The /api/dashboard JSON (set by the daemon like `metrics`). */
  dashboard: () => Promise<Buffer> = async () => Buffer.from("{}");

  private constructor(private readonly server: Server) {}

  /** Listens on `at`; over HTTPS and behind the token when `security` says so. */
  static listen(at: HttpAddress, security: HttpSecurity = {}): Promise<HttpEndpoint> {
    const headersTimeout = security.headersTimeoutMs ?? 10_000;
    const options = {
      maxHeaderSize: MAX_HEADER_BYTES,
      // Node checks the two timeouts every connectionsCheckingInterval (default 30 s): a slow client
      // would hold its socket that long past them.
      connectionsCheckingInterval: Math.min(1000, headersTimeout),
      headersTimeout,
      requestTimeout: Math.max(headersTimeout, security.requestTimeoutMs ?? 10_000),
    };
    const handler = (req: IncomingMessage, res: ServerResponse) => endpoint.handle(req, res, security);
    // A TLS client that never finishes its handshake is cut as one that never sends its headers.
    let server: Server;
    try {
      server = security.tls
        ? createHttpsServer({ ...options, ...security.tls, handshakeTimeout: headersTimeout }, handler)
        : createServer(options, handler);
    } catch (e) {
      throw new Error(
        `--http-tls-cert/--http-tls-key: not a usable certificate and key (${(e as Error).message})`,
      );
    }
    // A request that never completes its headers (slowloris) must not hold a socket, nor may a
    // crowd of sockets take the daemon's memory or the packet loop's turns: past the limit, closed.
    server.maxConnections = security.maxConnections ?? 256;
    server.maxHeadersCount = 64;
    const endpoint = new HttpEndpoint(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      const listening = () => {
        server.off("error", reject);
        resolve(endpoint);
      };
      if (at.path !== undefined) {
        // A socket left by a killed daemon would refuse the bind; the caller chose the path.
        rmSync(at.path, { force: true });
        server.listen(at.path, listening);
      } else server.listen(at.port, at.host, listening);
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse, security: HttpSecurity): void {
    const path = (req.url ?? "").split("?")[0];
    const token = security.token;
    if (token !== undefined && path === "/login") {
      if (req.method === "POST") login(req, res, token, security.tls !== undefined);
      else if (req.method === "GET" || req.method === "HEAD") loginPage(res, 200, false);
      else
        res.writeHead(405, { allow: "GET, HEAD, POST", "content-type": "text/plain" }).end("GET or POST\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("read-only: GET only\n");
      return;
    }
    if (token !== undefined && !authorized(req, token)) {
      // A browser opening the dashboard signs in; a scraper or a script is told what to send.
      if (path === "/" && (req.headers.accept ?? "").includes("text/html")) loginPage(res, 401, false);
      else unauthorized(res);
      return;
    }
    if (path === "/metrics") {
      const gzip = this.metricsGzip !== null && acceptsGzip(req);
      (gzip && this.metricsGzip ? this.metricsGzip() : this.metrics()).then(
        (parts) => {
          if (res.destroyed) return;
          res.writeHead(200, {
            "content-type": "text/plain; version=0.0.4; charset=utf-8",
            vary: "accept-encoding",
            ...(gzip ? { "content-encoding": "gzip" } : {}),
          });
          if (req.method !== "HEAD") for (const part of parts) res.write(part);
          res.end();
        },
        (e: unknown) => {
          if (res.destroyed) return;
          res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(e)}\n`);
        },
      );
      return;
    }
    if (path === "/api/dashboard") {
      this.dashboard().then(
        (body) => send(res, req.method === "HEAD", "application/json; charset=utf-8", body),
        (e: unknown) => {
          if (res.destroyed) return;
          res.writeHead(500, { "content-type": "text/plain" }).end(`dashboard failed: ${String(e)}\n`);
        },
      );
      return;
    }
    const asset = DASHBOARD_ASSETS.get(path ?? "");
    if (asset) {
      send(res, req.method === "HEAD", asset.type, asset.body);
      return;
    }
    res
      .writeHead(404, { "content-type": "text/plain" })
      .end("not found: this endpoint serves /metrics, / (the dashboard) and /api/dashboard\n");
  }

  /** Where it listens (the port chosen when 0 was asked for). */
  get address(): HttpAddress {
    const a = this.server.address();
    if (a === null) throw new Error("not listening");
    if (typeof a === "string") return { host: "", port: 0, path: a };
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** A dashboard response: never cached (it is live), never sniffed as another type, never framed. */
function send(res: ServerResponse, head: boolean, type: string, body: Buffer): void {
  if (res.destroyed) return;
  res.writeHead(200, {
    "content-type": type,
    "content-length": body.length,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": DASHBOARD_CSP,
    "referrer-policy": "no-referrer",
  });
  res.end(head ? undefined : body);
}

/** Whether the request's Accept-Encoding takes gzip (not refused with q=0). */
function acceptsGzip(req: IncomingMessage): boolean {
  const header = req.headers["accept-encoding"];
  if (typeof header !== "string") return false;
  return header.split(",").some((item) => {
    const [name, ...params] = item.trim().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return (
      (name?.trim().toLowerCase() === "gzip" || name?.trim() === "*") &&
      (q === undefined || Number(q.slice(2)) > 0)
    );
  });
}
