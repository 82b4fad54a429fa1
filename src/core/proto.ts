/**
 * The protocols (the kernel's ip_vs_proto.c and struct ip_vs_protocol): what differs between TCP
 * and UDP, as one table of operations looked up by IP protocol number, so that a protocol is one
 * file (proto-tcp.ts, proto-udp.ts, proto-sctp.ts). A protocol with no entry is not taken: its
 * packets get ACTION_PASS "unsupported-protocol".
 */
import type { DirectorState } from "./director-state.js";
import { type FlowPacket, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";
import { SCTP_OPS } from "./proto-sctp.js";
import { TCP_OPS } from "./proto-tcp.js";
import { UDP_OPS } from "./proto-udp.js";
import type { Sysctls } from "./sysctls.js";

export interface ProtocolOps {
  readonly protocol: number;
  /** The protocol's name in `ipvsadm -Lc`. */
  readonly name: string;
  /** One-packet scheduling (-o) applies (UDP only, as the kernel's IP_VS_CONN_F_ONE_PACKET). */
  readonly onePacket: boolean;
  /** Kernel conn_schedule's protocol check: may this packet start a new connection? */
  schedulable(pkt: FlowPacket, sysctls: Sysctls): boolean;
  /** conn_reuse_mode applies to this packet: it opens a connection (a TCP SYN, an SCTP INIT). */
  opensConnection(pkt: FlowPacket): boolean;
  /** Kernel is_new_conn_expected: may a new connection replace closing conn `i`? */
  newConnExpected(ds: DirectorState, i: number, reuseMode: number): boolean;
  /** Kernel state_transition: conn `i` saw `pkt` in direction `dir`: its state and timeout follow. */
  stateTransition(ds: DirectorState, i: number, dir: number, pkt: FlowPacket): void;
  /** The state's name in `ipvsadm -Lc` (non-template conns). */
  stateName(state: number): string;
  /** May a reply without a conn get nat_icmp_send's ICMP error (never for a TCP RST)? */
  answersStrayReply(pkt: FlowPacket): boolean;
}

const BY_NUMBER: (ProtocolOps | undefined)[] = [];
BY_NUMBER[IPPROTO_TCP] = TCP_OPS;
BY_NUMBER[IPPROTO_UDP] = UDP_OPS;
BY_NUMBER[IPPROTO_SCTP] = SCTP_OPS;

/** The operations of IP protocol `proto`, undefined when tslvs does not balance it. */
export function protocolOps(proto: number): ProtocolOps | undefined {
  return BY_NUMBER[proto];
}

/** Conn `i` saw `pkt` in direction `dir` (kernel ip_vs_set_state). */
export function setState(ds: DirectorState, i: number, dir: number, pkt: FlowPacket): void {
  BY_NUMBER[ds.conns.protoOf(i)]?.stateTransition(ds, i, dir, pkt);
}
