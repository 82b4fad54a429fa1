/**
 * Per-protocol state timeouts in seconds (kernel ip_vs_proto_tcp.c / _udp.c / _sctp.c defaults) and
 * the `ipvsadm --set tcp tcpfin udp` semantics: ESTABLISHED, FIN_WAIT and UDP only, 0 = leave
 * unchanged (SCTP's timeouts, as the kernel's, are not set by ipvsadm).
 */
import { IpvsError } from "./errors.js";
import { DEFAULT_SCTP_TIMEOUTS } from "./sctp-state.js";
import { TCP_S_COUNT, TCP_S_ESTABLISHED, TCP_S_FIN_WAIT } from "./tcp-state.js";

/** Kernel defaults, indexed by TCP state (NONE .. SYNACK). */
export const DEFAULT_TCP_TIMEOUTS: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
export const DEFAULT_UDP_TIMEOUT = 300;
/** A new conn keeps this timeout until its first state transition sets the state's timeout. */
export const NEW_CONN_TIMEOUT = 3;
/** The kernel's bound: INT_MAX / HZ with HZ = 1000. */
export const MAX_TIMEOUT = Math.floor(2147483647 / 1000);

export interface TimeoutValues {
  tcp: number;
  tcpfin: number;
  udp: number;
}

export class Timeouts {
  /** Seconds per TCP state; the packet path reads it directly. */
  readonly tcp = Float64Array.from(DEFAULT_TCP_TIMEOUTS);
  udp = DEFAULT_UDP_TIMEOUT;
  /** Seconds per SCTP state (sctp-state.ts). */
  readonly sctp = Float64Array.from(DEFAULT_SCTP_TIMEOUTS);

  /** `--set`: each value 0..MAX_TIMEOUT, 0 keeps the current value. Throws EINVAL otherwise. */
  set(v: TimeoutValues): void {
    for (const x of [v.tcp, v.tcpfin, v.udp]) {
      if (!Number.isInteger(x) || x < 0 || x > MAX_TIMEOUT)
        throw new IpvsError("EINVAL", `timeout must be an integer 0..${MAX_TIMEOUT}, not ${x}`);
    }
    if (v.tcp) this.tcp[TCP_S_ESTABLISHED] = v.tcp;
    if (v.tcpfin) this.tcp[TCP_S_FIN_WAIT] = v.tcpfin;
    if (v.udp) this.udp = v.udp;
  }

  get(): TimeoutValues {
    return { tcp: this.tcp[TCP_S_ESTABLISHED]!, tcpfin: this.tcp[TCP_S_FIN_WAIT]!, udp: this.udp };
  }

  /** All per-state TCP timeouts, e.g. for a status page. */
  tcpTable(): number[] {
    return Array.from(this.tcp.subarray(0, TCP_S_COUNT));
  }
}
