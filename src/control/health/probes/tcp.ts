/** TCP_CHECK: the check passes when a TCP connect completes within the timeout; then it closes. */
import { connect, type Socket } from "node:net";
import type { ProbeResult, ProbeTarget } from "../check-spec.js";
import { type Attempt, attempt, localEnd } from "./attempt.js";

export function tcpProbe(target: ProbeTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  return attempt(timeoutMs, signal, (a) => {
    const sock = openTcp(a, target);
    sock.once("connect", () => a.finish(true, "ok"));
  });
}

/**
 * A TCP connection owned by the attempt: destroyed when the attempt ends, its errors ending the
 * attempt as failures ("refused", "unreachable", "reset"...).
 */
export function openTcp(a: Attempt, target: ProbeTarget): Socket {
  const sock = connect({ host: target.connectIp, port: target.connectPort, ...localEnd(target) });
  sock.on("error", (e) => a.fail(e));
  a.onEnd(() => sock.destroy());
  return sock;
}
