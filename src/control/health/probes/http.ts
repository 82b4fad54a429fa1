/**
 * HTTP_GET and SSL_GET: `GET path HTTP/1.x` written on a raw TCP (or TLS) connection, so the
 * request is byte for byte the one keepalived sends and anything that is not an HTTP answer is
 * seen as such. A URL passes when its status code is in one of its ranges and, when it has a
 * `digest`, the MD5 of the body (lower-case hex) equals it.
 *
 * keepalived fetches one URL per round; `httpUrlProbe` is that single fetch (for a scheduler that
 * wants keepalived's rotation), while `httpProbe` — the attempt `runProbe` makes — fetches every URL
 * in turn and passes only when all pass, the whole attempt bounded by one timeout (each URL gets
 * what is left of it). With several URLs a failure's reason names the path ("/health: status 500").
 */
import { createHash } from "node:crypto";
import { isIP, type Socket } from "node:net";
import { createSecureContext, type SecureContext, connect as tlsConnect } from "node:tls";
import type { ProbeResult, ProbeSpec, UrlCheck } from "../check-spec.js";
import { type Attempt, attempt, errorReason, hostPort, localEnd } from "./attempt.js";
import { needsNativeSocket, openTcp } from "./tcp.js";

export type HttpSpec = Extract<ProbeSpec, { kind: "HTTP_GET" | "SSL_GET" }>;

/** A response larger than this is not a health answer. */
const MAX_RESPONSE = 16 * 1024 * 1024;
/** A header block larger than this is garbage. */
const MAX_HEADER = 64 * 1024;

/** Every URL in turn; the first failure ends the attempt. */
export async function httpProbe(
  spec: HttpSpec,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ProbeResult> {
  const started = performance.now();
  const latency = () => Math.round((performance.now() - started) * 1000) / 1000;
  if (spec.urls.length === 0) return { ok: false, reason: "no url", latencyMs: 0 };
  for (let i = 0; i < spec.urls.length; i++) {
    const left = timeoutMs - (performance.now() - started);
    const r = await httpUrlProbe(spec, i, Math.max(0, left), signal);
    if (!r.ok) {
      const reason = spec.urls.length > 1 ? `${spec.urls[i]?.path}: ${r.reason}` : r.reason;
      return { ...r, reason, latencyMs: latency() };
    }
  }
  return { ok: true, reason: "ok", latencyMs: latency() };
}

/** The request keepalived sends for `url` (Host: the URL's virtualhost, else the target's IP:port). */
export function httpRequest(spec: HttpSpec, url: UrlCheck): string {
  const version = spec.httpProtocol === "1.1" ? "1.1" : "1.0";
  const host = url.virtualhost ?? hostPort(spec.target.connectIp, spec.target.connectPort);
  const close = spec.httpProtocol === "1.0" ? "" : "Connection: close\r\n";
  return `GET ${url.path} HTTP/${version}\r\nUser-Agent: KeepAliveClient\r\nHost: ${host}\r\n${close}\r\n`;
}

/** The SNI name SSL_GET sends: `sni_name`, else the Host's name; none for an address. */
export function sniName(spec: HttpSpec, url: UrlCheck): string | undefined {
  if (!spec.enableSni) return undefined;
  let name = spec.sniName ?? url.virtualhost;
  if (name === undefined) return undefined;
  if (!spec.sniName) name = name.replace(/:\d+$/, ""); // a Host header may carry a port
  return name && isIP(name) === 0 ? name : undefined;
}

/** One fetch of URL `index`. */
export function httpUrlProbe(
  spec: HttpSpec,
  index: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ProbeResult> {
  return attempt(timeoutMs, signal, (a) => {
    const url = spec.urls[index];
    if (!url) return a.finish(false, `no url ${index}`);
    const request = httpRequest(spec, url);
    const sock = spec.kind === "SSL_GET" ? openTls(a, spec, url) : openTcp(a, spec.target);
    const ready = spec.kind === "SSL_GET" ? "secureConnect" : "connect";
    sock.once(ready, () => sock.write(request));
    const chunks: Buffer[] = [];
    let size = 0;
    const judge = (closed: boolean) => {
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (chunks.length > 1) chunks.splice(0, chunks.length, buf);
      const r = parseHttpResponse(buf, closed, url.digest !== undefined);
      if (r.state === "incomplete") {
        if (closed) a.finish(false, size === 0 ? "no response" : "bad response");
        return;
      }
      if (r.state === "bad") return a.finish(false, r.reason);
      if (!url.statusCodes.some(([lo, hi]) => r.status >= lo && r.status <= hi))
        return a.finish(false, `status ${r.status}`);
      if (url.digest !== undefined && r.body) {
        const md5 = createHash("md5").update(r.body).digest("hex");
        if (md5 !== url.digest.toLowerCase()) return a.finish(false, "digest mismatch");
      }
      a.finish(true, "ok");
    };
    sock.on("data", (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (size > MAX_RESPONSE) return a.finish(false, "response too large");
      judge(false);
    });
    sock.on("end", () => judge(true));
  });
}

/**
 * The last TLS session of each target, so that the next check resumes it: an abbreviated handshake
 * costs a fraction of a full one (no key exchange and signature per check), which is most of an
 * SSL_GET's CPU at a thousand real servers a second. Bounded: the oldest entries go first.
 */
const TLS_SESSIONS = new Map<string, Buffer>();

/** One client context for every check: building one per connection costs a fifth of an SSL_GET. */
let context: SecureContext | null = null;
function sharedContext(): SecureContext {
  context ??= createSecureContext();
  return context;
}
const MAX_TLS_SESSIONS = 65536;

function rememberSession(key: string, session: Buffer): void {
  TLS_SESSIONS.delete(key);
  TLS_SESSIONS.set(key, session);
  if (TLS_SESSIONS.size > MAX_TLS_SESSIONS) TLS_SESSIONS.delete(TLS_SESSIONS.keys().next().value as string);
}

/** A TLS connection without certificate verification; a failure between TCP and TLS is a handshake failure. */
function openTls(a: Attempt, spec: HttpSpec, url: UrlCheck): Socket {
  const servername = sniName(spec, url);
  // With fwmark or bind_if the TCP socket is ours (see openTcp), and TLS runs over it.
  const tcp = needsNativeSocket(spec.target) ? openTcp(a, spec.target) : undefined;
  const key = `${spec.target.connectIp}|${spec.target.connectPort}|${servername ?? ""}`;
  const session = TLS_SESSIONS.get(key);
  const sock = tlsConnect({
    ...(tcp
      ? { socket: tcp }
      : { host: spec.target.connectIp, port: spec.target.connectPort, ...localEnd(spec.target) }),
    rejectUnauthorized: false,
    secureContext: sharedContext(),
    ...(servername ? { servername } : {}),
    ...(session ? { session } : {}),
  });
  sock.on("session", (s: Buffer) => rememberSession(key, s));
  let tcpUp = false;
  let secure = false;
  (tcp ?? sock).once("connect", () => {
    tcpUp = true;
  });
  sock.once("secureConnect", () => {
    secure = true;
  });
  sock.on("error", (e) => {
    if (tcpUp && !secure) a.finish(false, "tls handshake failed");
    else a.finish(false, errorReason(e));
  });
  sock.on("end", () => {
    if (!secure) a.finish(false, "tls handshake failed");
  });
  a.onEnd(() => sock.destroy());
  return sock;
}

export type HttpVerdict =
  | { state: "incomplete" }
  | { state: "bad"; reason: string }
  | { state: "done"; status: number; body?: Buffer };

/**
 * Reads an HTTP response from what has arrived so far (`closed`: the peer has finished). Without
 * `needBody` it is done at the end of the header; with it, at the end of the body as the header
 * frames it: chunked, Content-Length, or up to the close.
 */
export function parseHttpResponse(buf: Buffer, closed: boolean, needBody: boolean): HttpVerdict {
  const prefix = "HTTP/";
  if (
    buf.subarray(0, prefix.length).toString("latin1") !== prefix.slice(0, Math.min(buf.length, prefix.length))
  )
    return { state: "bad", reason: "bad response" };
  let headerEnd = buf.indexOf("\r\n\r\n");
  let sep = 4;
  const lf = buf.indexOf("\n\n");
  if (lf >= 0 && (headerEnd < 0 || lf < headerEnd)) {
    headerEnd = lf;
    sep = 2;
  }
  if (headerEnd < 0) {
    if (buf.length > MAX_HEADER) return { state: "bad", reason: "bad response" };
    return { state: "incomplete" };
  }
  const lines = buf.subarray(0, headerEnd).toString("latin1").split(/\r?\n/);
  const m = /^HTTP\/\d\.\d (\d{3})(?: |$)/.exec(lines[0] ?? "");
  if (!m) return { state: "bad", reason: "bad response" };
  const status = Number(m[1]);
  if (!needBody) return { state: "done", status };
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const rest = buf.subarray(headerEnd + sep);
  if (status === 204 || status === 304 || status < 200)
    return { state: "done", status, body: Buffer.alloc(0) };
  if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) {
    const body = dechunk(rest);
    if (body === "bad") return { state: "bad", reason: "bad response" };
    if (body === null) return closed ? { state: "bad", reason: "bad response" } : { state: "incomplete" };
    return { state: "done", status, body };
  }
  const cl = headers.get("content-length");
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) return { state: "bad", reason: "bad response" };
    const n = Number(cl);
    if (rest.length >= n) return { state: "done", status, body: rest.subarray(0, n) };
    return closed ? { state: "bad", reason: "bad response" } : { state: "incomplete" };
  }
  return closed ? { state: "done", status, body: rest } : { state: "incomplete" };
}

/** The body of a chunked transfer, null while incomplete, "bad" when it is not chunked framing. */
function dechunk(buf: Buffer): Buffer | null | "bad" {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const nl = buf.indexOf("\r\n", at);
    if (nl < 0) return buf.length - at > 1024 ? "bad" : null;
    const sizeText = buf.subarray(at, nl).toString("latin1").split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return "bad";
    const n = Number.parseInt(sizeText, 16);
    at = nl + 2;
    if (n === 0) return Buffer.concat(parts); // trailers, if any, say nothing about health
    if (buf.length < at + n + 2) return null;
    parts.push(buf.subarray(at, at + n));
    at += n;
    if (buf[at] !== 0x0d || buf[at + 1] !== 0x0a) return "bad";
    at += 2;
  }
}
