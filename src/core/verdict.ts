/**
 * What the director decided about one packet: a reusable mutable record the data plane passes in
 * and reads back, so that deciding allocates nothing.
 */
import type { Family } from "./address.js";
import type { Dest } from "./dest.js";

/** Let the packet continue to the host's own stack untouched (not ours, or not schedulable). */
export const ACTION_PASS = 0;
/** Drop the packet silently. */
export const ACTION_DROP = 1;
/** Rewrite it as `src*`/`dst*` say and send it by the forwarding method `fwd`. */
export const ACTION_FORWARD = 2;
/** Drop it and answer its sender with ICMP (v6) port unreachable. */
export const ACTION_ICMP_UNREACH = 3;

export type VerdictAction = 0 | 1 | 2 | 3;

export const ACTION_NAMES = ["PASS", "DROP", "FORWARD", "ICMP_UNREACH"] as const;

/** Why a packet was dropped or passed (for counters and debugging). */
export type VerdictReason =
  | ""
  | "not-ours"
  | "no-service"
  | "not-schedulable"
  | "ftp-data"
  | "no-dest"
  | "dest-unavailable"
  | "table-full"
  | "no-local-port"
  | "unsupported-protocol"
  | "nat-icmp"
  /** A persistence engine found no data in the packet (`--pe sip`: no Call-ID; non-UDP). */
  | "no-pe-data"
  /** The drop_packet defence refused this new connection (defense.ts). */
  | "defense-drop";

export class Verdict {
  action: VerdictAction = ACTION_PASS;
  reason: VerdictReason = "";
  /** Connection index in the table, -1 when none (or one-packet conns, already gone). */
  conn = -1;
  /** True when this packet created the connection. */
  isNew = false;
  /** Forwarding method code (CONN_F_MASQ, _LOCALNODE, _TUNNEL, _DROUTE, _BYPASS, _FULLNAT). */
  fwd = 0;
  /** The real server (null for bypass conns and when not forwarding). */
  dest: Dest | null = null;
  /** The tuple the packet must carry when it leaves: family and addresses of the new header. */
  family: Family = 4;
  readonly srcAddr = new Uint32Array(4);
  srcPort = 0;
  readonly dstAddr = new Uint32Array(4);
  dstPort = 0;
  /** Whether the source / destination differ from the packet's (NAT, FULLNAT rewrites). */
  rewriteSrc = false;
  rewriteDst = false;

  reset(): this {
    this.action = ACTION_PASS;
    this.reason = "";
    this.conn = -1;
    this.isNew = false;
    this.fwd = 0;
    this.dest = null;
    this.rewriteSrc = false;
    this.rewriteDst = false;
    return this;
  }
}
