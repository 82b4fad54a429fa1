import type { CheckerKind, CheckTiming } from "./check-spec.js";

/**
 * The default timings of a checker (spec A.5-A.7), shared by the keepalived.conf and YAML readers
 * so both resolve a checker to the same CheckTiming.
 */

/** Seconds between checks (keepalived's `delay_loop`); also the default warmup and MISC timeout. */
export const DEFAULT_DELAY_LOOP = 60;
export const DEFAULT_CONNECT_TIMEOUT = 5;

/** `retry`: DNS 3, MISC 0, every other type 1. */
export function defaultRetry(kind: CheckerKind): number {
  return kind === "DNS_CHECK" ? 3 : kind === "MISC_CHECK" ? 0 : 1;
}

/** `delay_before_retry`: HTTP/SSL 3 s, DNS the checker's delay_loop, every other type 1 s. */
export function defaultDelayBeforeRetry(kind: CheckerKind, delayLoop: number): number {
  if (kind === "HTTP_GET" || kind === "SSL_GET") return 3;
  return kind === "DNS_CHECK" ? delayLoop : 1;
}

/** The timing values one level sets: a checker, a real server or a virtual server. */
export interface TimingLayer {
  delayLoop?: number;
  connectTimeout?: number;
  retry?: number;
  delayBeforeRetry?: number;
  warmup?: number;
  alpha?: boolean;
}

/**
 * A checker's timing: each value from the first layer that sets it (checker, real server,
 * virtual server), else the type's default. `logAllFailures` is resolved by the caller (a
 * checker's own setting, else a global one).
 */
export function resolveTiming(
  kind: CheckerKind,
  layers: readonly TimingLayer[],
  logAllFailures: boolean,
): CheckTiming {
  const pick = <K extends keyof TimingLayer>(k: K): TimingLayer[K] => {
    for (const l of layers) if (l[k] !== undefined) return l[k];
    return undefined;
  };
  const delayLoop = pick("delayLoop") ?? DEFAULT_DELAY_LOOP;
  return {
    delayLoop,
    connectTimeout: pick("connectTimeout") ?? DEFAULT_CONNECT_TIMEOUT,
    retry: pick("retry") ?? defaultRetry(kind),
    delayBeforeRetry: pick("delayBeforeRetry") ?? defaultDelayBeforeRetry(kind, delayLoop),
    warmup: pick("warmup") ?? delayLoop,
    alpha: pick("alpha") ?? false,
    logAllFailures,
  };
}
