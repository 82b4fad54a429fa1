/**
 * The IPVS TCP state machine (kernel ip_vs_proto_tcp.c): eleven states, three direction tables
 * (INPUT, OUTPUT, INPUT_ONLY) and the "secure_tcp" defence variant. Pure data and lookups.
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "./flow.js";

export const TCP_S_NONE = 0;
export const TCP_S_ESTABLISHED = 1;
export const TCP_S_SYN_SENT = 2;
export const TCP_S_SYN_RECV = 3;
export const TCP_S_FIN_WAIT = 4;
export const TCP_S_TIME_WAIT = 5;
export const TCP_S_CLOSE = 6;
export const TCP_S_CLOSE_WAIT = 7;
export const TCP_S_LAST_ACK = 8;
export const TCP_S_LISTEN = 9;
export const TCP_S_SYNACK = 10;
export const TCP_S_COUNT = 11;

/** Names as /proc/net/ip_vs_conn (and so `ipvsadm -Lc`) prints them. */
export const TCP_STATE_NAMES: readonly string[] = [
  "NONE",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "SYNACK",
];

/** States that count as "active" for the dest's ActiveConn column. */
const ACTIVE = Uint8Array.of(0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1);

export function tcpStateActive(state: number): boolean {
  return ACTIVE[state] === 1;
}

/** Packet direction as the state machine sees it. */
export const DIR_INPUT = 0;
export const DIR_OUTPUT = 1;
export const DIR_INPUT_ONLY = 2;

/** Packet classes, the row index of the tables. */
export const CLASS_SYN = 0;
export const CLASS_FIN = 1;
export const CLASS_ACK = 2;
export const CLASS_RST = 3;

/** RST beats SYN beats FIN beats ACK; -1 when none of the four is set (the conn then goes to CLOSE). */
export function tcpPacketClass(tcpFlags: number): number {
  if (tcpFlags & TCP_RST) return CLASS_RST;
  if (tcpFlags & TCP_SYN) return CLASS_SYN;
  if (tcpFlags & TCP_FIN) return CLASS_FIN;
  if (tcpFlags & TCP_ACK) return CLASS_ACK;
  return -1;
}

const ES = TCP_S_ESTABLISHED;
const SS = TCP_S_SYN_SENT;
const SR = TCP_S_SYN_RECV;
const FW = TCP_S_FIN_WAIT;
const TW = TCP_S_TIME_WAIT;
const CL = TCP_S_CLOSE;
const CW = TCP_S_CLOSE_WAIT;
const LA = TCP_S_LAST_ACK;
const LI = TCP_S_LISTEN;
const SA = TCP_S_SYNACK;

/**
 * Next state, laid out [direction][class][current state] = 3 x 4 x 11 bytes.
 * Columns: NO ES SS SR FW TW CL CW LA LI SA.
 */
// biome-ignore format: the tables read as in the kernel source
export const TCP_STATES = Uint8Array.of(
  // INPUT
  SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR, // syn
  CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW, // fin
  ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES, // ack
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR, // rst
  // OUTPUT
  SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR,
  TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW,
  ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES,
  CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL,
  // INPUT_ONLY
  SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR,
  CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW,
  ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES,
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL,
);

/** The secure_tcp tables: half-open conns wait in SYNACK instead of becoming ESTABLISHED on a bare ACK. */
// biome-ignore format: the tables read as in the kernel source
export const TCP_STATES_SECURE = Uint8Array.of(
  // INPUT
  SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA,
  CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA,
  ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA,
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL,
  // OUTPUT
  SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA,
  TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW,
  ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES,
  CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL,
  // INPUT_ONLY
  SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA,
  CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW,
  ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES,
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL,
);

/** The state after a packet of `tcpFlags` in direction `dir` (DIR_*) hits a conn in `state`. */
export function tcpNextState(table: Uint8Array, dir: number, state: number, tcpFlags: number): number {
  const cls = tcpPacketClass(tcpFlags);
  if (cls < 0) return TCP_S_CLOSE;
  return table[dir * 44 + cls * 11 + state]!;
}
