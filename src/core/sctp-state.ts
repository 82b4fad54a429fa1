/**
 * The IPVS SCTP state machine (kernel ip_vs_proto_sctp.c: sctp_events, sctp_states, sctp_timeouts,
 * sctp_state_name_table): fourteen states as seen from the real server, ten chunk events, three
 * direction tables (INPUT, OUTPUT, INPUT_ONLY). Pure data and lookups, rewritten from the kernel's
 * tables.
 */

export const SCTP_S_NONE = 0;
/** First INIT from the client; short timeout for INITs that go unanswered. */
export const SCTP_S_INIT1 = 1;
/** A repeated INIT. */
export const SCTP_S_INIT = 2;
export const SCTP_S_COOKIE_SENT = 3;
export const SCTP_S_COOKIE_REPLIED = 4;
/** The real server sent an INIT (it opens the association). */
export const SCTP_S_COOKIE_WAIT = 5;
export const SCTP_S_COOKIE = 6;
export const SCTP_S_COOKIE_ECHOED = 7;
export const SCTP_S_ESTABLISHED = 8;
export const SCTP_S_SHUTDOWN_SENT = 9;
export const SCTP_S_SHUTDOWN_RECEIVED = 10;
export const SCTP_S_SHUTDOWN_ACK_SENT = 11;
/** An INIT answered with ABORT. */
export const SCTP_S_REJECTED = 12;
export const SCTP_S_CLOSED = 13;
export const SCTP_S_COUNT = 14;

/** Names as /proc/net/ip_vs_conn (and so `ipvsadm -Lc`) prints them (kernel sctp_state_name_table). */
export const SCTP_STATE_NAMES: readonly string[] = [
  "NONE",
  "INIT1",
  "INIT",
  "C-SENT",
  "C-REPLIED",
  "C-WAIT",
  "COOKIE",
  "C-ECHOED",
  "ESTABLISHED",
  "S-SENT",
  "S-RECEIVED",
  "S-ACK-SENT",
  "REJECTED",
  "CLOSED",
];

/** The kernel's IP_VS_SCTP_MAX_RTO: 61 s. */
const MAX_RTO = 61;
/** Default timeout per state in seconds (kernel sctp_timeouts). */
export const DEFAULT_SCTP_TIMEOUTS: readonly number[] = [
  2, // NONE
  4, // INIT1
  MAX_RTO, // INIT
  MAX_RTO, // COOKIE_SENT
  MAX_RTO, // COOKIE_REPLIED
  MAX_RTO, // COOKIE_WAIT
  MAX_RTO, // COOKIE
  MAX_RTO, // COOKIE_ECHOED
  15 * 60, // ESTABLISHED
  MAX_RTO, // SHUTDOWN_SENT
  MAX_RTO, // SHUTDOWN_RECEIVED
  MAX_RTO, // SHUTDOWN_ACK_SENT
  4, // REJECTED
  MAX_RTO, // CLOSED
];

/** Only ESTABLISHED counts in the dest's ActiveConn column (kernel set_sctp_state). */
export function sctpStateActive(state: number): boolean {
  return state === SCTP_S_ESTABLISHED;
}

/** Events: the rows of the tables (kernel enum ipvs_sctp_event_t). */
export const EV_DATA = 0;
export const EV_INIT = 1;
export const EV_INIT_ACK = 2;
export const EV_COOKIE_ECHO = 3;
export const EV_COOKIE_ACK = 4;
export const EV_SHUTDOWN = 5;
export const EV_SHUTDOWN_ACK = 6;
export const EV_SHUTDOWN_COMPLETE = 7;
export const EV_ERROR = 8;
export const EV_ABORT = 9;
const EV_COUNT = 10;

/**
 * The event of chunk types 0..14 (kernel sctp_events: DATA, SACK, HEARTBEAT(-ACK), ECNE and CWR are
 * all "data"); any higher type is data too.
 */
const EVENT_OF_CHUNK = Uint8Array.of(
  EV_DATA, // DATA
  EV_INIT, // INIT
  EV_INIT_ACK, // INIT ACK
  EV_DATA, // SACK
  EV_DATA, // HEARTBEAT
  EV_DATA, // HEARTBEAT ACK
  EV_ABORT, // ABORT
  EV_SHUTDOWN, // SHUTDOWN
  EV_SHUTDOWN_ACK, // SHUTDOWN ACK
  EV_ERROR, // ERROR
  EV_COOKIE_ECHO, // COOKIE ECHO
  EV_COOKIE_ACK, // COOKIE ACK
  EV_DATA, // ECNE
  EV_DATA, // CWR
  EV_SHUTDOWN_COMPLETE, // SHUTDOWN COMPLETE
);

export function sctpEvent(chunkType: number): number {
  return chunkType < EVENT_OF_CHUNK.length ? EVENT_OF_CHUNK[chunkType]! : EV_DATA;
}

const I1 = SCTP_S_INIT1;
const IN = SCTP_S_INIT;
const CS = SCTP_S_COOKIE_SENT;
const CR = SCTP_S_COOKIE_REPLIED;
const CW = SCTP_S_COOKIE_WAIT;
const CO = SCTP_S_COOKIE;
const CE = SCTP_S_COOKIE_ECHOED;
const ES = SCTP_S_ESTABLISHED;
const SS = SCTP_S_SHUTDOWN_SENT;
const SR = SCTP_S_SHUTDOWN_RECEIVED;
const SA = SCTP_S_SHUTDOWN_ACK_SENT;
const RJ = SCTP_S_REJECTED;
const CL = SCTP_S_CLOSED;

/**
 * Next state, laid out [direction][event][current state] = 3 x 10 x 14 bytes, as the kernel's
 * sctp_states. Columns: NO I1 IN CS CR CW CO CE ES SS SR SA RJ CL.
 */
// biome-ignore format: the tables read as in the kernel source
export const SCTP_STATES = Uint8Array.of(
  // INPUT
  ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL, // data
  I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN, // init
  CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL, // init ack
  CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL, // cookie echo
  ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL, // cookie ack
  SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL, // shutdown
  CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL, // shutdown ack
  CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL, // shutdown complete
  CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL, // error
  CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, // abort
  // OUTPUT
  ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL,
  CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW,
  CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL,
  CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL,
  ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL,
  SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL,
  SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL,
  CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL,
  CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL,
  CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL,
  // INPUT_ONLY
  ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL,
  I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN,
  CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL,
  ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL,
  ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL,
  SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL,
  CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL,
  CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL,
  CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL,
  CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL,
);

/** The state after an `event` in direction `dir` (DIR_*, tcp-state.ts) hits a conn in `state`. */
export function sctpNextState(dir: number, event: number, state: number): number {
  return SCTP_STATES[(dir * EV_COUNT + event) * SCTP_S_COUNT + state]!;
}

/** The chunk types the core tells apart by number (RFC 9260 §3.2; net/sctp.ts names them all). */
export const CHUNK_INIT = 1;
export const CHUNK_ABORT = 6;
export const CHUNK_COOKIE_ECHO = 10;
export const CHUNK_COOKIE_ACK = 11;

/**
 * The chunk type the state machine acts on (kernel set_sctp_state): the first chunk's, except that
 * an ABORT bundled after a first COOKIE ECHO or COOKIE ACK counts as the ABORT.
 */
export function sctpEventChunk(first: number, next: number): number {
  if ((first === CHUNK_COOKIE_ECHO || first === CHUNK_COOKIE_ACK) && next === CHUNK_ABORT) return CHUNK_ABORT;
  return first;
}
