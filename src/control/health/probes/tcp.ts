/** TCP_CHECK: the check passes when a TCP connect completes within the timeout; then it closes. */
import { connect, isIPv6, Socket } from "node:net";
import { libc } from "../../../platform/libc.js";
import type { ProbeResult, ProbeTarget } from "../check-spec.js";
import { type Attempt, attempt, localEnd } from "./attempt.js";
import { AF_INET, AF_INET6, socketOptions, sysFailure } from "./sockaddr.js";

const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;

export function tcpProbe(target: ProbeTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  return attempt(timeoutMs, signal, (a) => {
    const sock = openTcp(a, target);
    sock.once("connect", () => a.finish(true, "ok"));
  });
}

/**
 * A TCP connection owned by the attempt: destroyed when the attempt ends, its errors ending the
 * attempt as failures ("refused", "unreachable", "reset"...). With `fwmark` or `bind_if` the
 * socket is made through libc, its options set before the SYN, and handed to Node to connect.
 */
export function openTcp(a: Attempt, target: ProbeTarget): Socket {
  let sock: Socket;
  if (needsNativeSocket(target)) {
    const v6 = isIPv6(target.connectIp);
    const c = libc();
    const fd = c.socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw sysFailure("socket");
    try {
      socketOptions(fd, target, v6);
    } catch (e) {
      c.close(fd);
      throw e;
    }
    sock = new Socket({ fd });
    sock.connect({ host: target.connectIp, port: target.connectPort });
  } else {
    sock = connect({ host: target.connectIp, port: target.connectPort, ...localEnd(target) });
  }
  sock.on("error", (e) => a.fail(e));
  a.onEnd(() => sock.destroy());
  return sock;
}

/** Whether the target asks for socket options Node cannot set (SO_MARK, SO_BINDTODEVICE). */
export function needsNativeSocket(target: ProbeTarget): boolean {
  return target.fwmark !== undefined || target.bindIf !== undefined;
}
