/**
 * The frame every probe runs in: one attempt that ends exactly once — with the probe's verdict, at
 * its deadline ("timeout"), or when the caller aborts ("aborted") — and then frees everything the
 * probe registered (sockets, timers, processes). A probe never throws: an exception inside it
 * becomes a failed result.
 */
import type { ProbeResult, ProbeTarget } from "../check-spec.js";

export interface Attempt {
  /** Ends the attempt (later calls are ignored). */
  finish(ok: boolean, reason: string, extra?: Partial<ProbeResult>): void;
  /** Ends it as a failure named after a socket error. */
  fail(err: unknown): void;
  /** Run when the attempt ends, whatever ended it (in reverse order of registration). */
  onEnd(cleanup: () => void): void;
  /** True once finished: callbacks that fire late check it and do nothing. */
  readonly ended: boolean;
  /** Milliseconds left before the deadline (never below 0). */
  remainingMs(): number;
}

/**
 * Runs `body` as one attempt bounded by `timeoutMs` and `signal`. `onTimeout` (default: a
 * "timeout" failure) lets a probe decide what its deadline means (UDP_CHECK without a required
 * reply passes when the deadline comes with no error).
 */
export function attempt(
  timeoutMs: number,
  signal: AbortSignal,
  body: (a: Attempt) => void | Promise<void>,
  onTimeout: (a: Attempt) => void = (a) => a.finish(false, "timeout"),
): Promise<ProbeResult> {
  const started = performance.now();
  const deadline = started + Math.max(0, timeoutMs);
  return new Promise<ProbeResult>((resolve) => {
    const cleanups: (() => void)[] = [];
    let ended = false;
    const a: Attempt = {
      get ended() {
        return ended;
      },
      finish(ok, reason, extra) {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        for (const c of cleanups.reverse()) {
          try {
            c();
          } catch {
            /* freeing must not stop the other frees */
          }
        }
        resolve({ ok, reason, latencyMs: Math.round((performance.now() - started) * 1000) / 1000, ...extra });
      },
      fail(err) {
        a.finish(false, errorReason(err));
      },
      onEnd(cleanup) {
        if (ended) cleanup();
        else cleanups.push(cleanup);
      },
      remainingMs() {
        return Math.max(0, deadline - performance.now());
      },
    };
    const onAbort = () => a.finish(false, "aborted");
    const timer = setTimeout(() => onTimeout(a), Math.max(0, timeoutMs));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const p = body(a);
      if (p) p.catch((e: unknown) => a.fail(e));
    } catch (e) {
      a.fail(e);
    }
  });
}

/** Short reasons for the socket errors a probe meets; anything else keeps its code or message. */
export function errorReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "refused";
    case "ETIMEDOUT":
      return "timeout";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EHOSTDOWN":
    case "ENETDOWN":
      return "unreachable";
    case "ECONNRESET":
    case "EPIPE":
      return "reset";
    case "EADDRNOTAVAIL":
    case "EADDRINUSE":
      return `cannot bind: ${code}`;
  }
  if (typeof code === "string") return code;
  return err instanceof Error ? err.message : String(err);
}

/** "198.18.0.2:80", "[2001:db8::1]:80": the address text keepalived puts in a Host header. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * The local end requested by `bindto` / `bind_port`, as node:net takes it. SO_MARK (`fwmark`) and
 * SO_BINDTODEVICE (`bind_if`) have no Node API: the TCP probes make such sockets through libc
 * (tcp.ts), PING_CHECK always does; UDP_CHECK and DNS_CHECK do not apply them (node:dgram cannot
 * adopt a socket made elsewhere).
 */
export function localEnd(t: ProbeTarget): { localAddress?: string; localPort?: number } {
  const out: { localAddress?: string; localPort?: number } = {};
  if (t.bindto) out.localAddress = t.bindto;
  if (t.bindPort) out.localPort = t.bindPort;
  return out;
}

/** The address family of an IP text (4 or 6). */
export function familyOf(ip: string): 4 | 6 {
  return ip.includes(":") ? 6 : 4;
}
