/**
 * SCTP (the kernel's ip_vs_proto_sctp.c): an association starts with the client's INIT
 * (sctp_conn_schedule), follows the state machine over the chunk types (sctp-state.ts holds the
 * tables, set_sctp_state the rules), and only ESTABLISHED counts as active. A closed association
 * may be replaced by a new INIT (ip_vs_core.c is_new_conn_expected); no ICMP answers a stray ABORT
 * (ip_vs_out's is_sctp_abort).
 */
import { assureControl, setActivity } from "./conn.js";
import { CONN_F_NOOUTPUT } from "./conn-table.js";
import { CONN_EVENT_LEFT_ESTABLISHED, type DirectorState } from "./director-state.js";
import { type FlowPacket, IPPROTO_SCTP } from "./flow.js";
import type { ProtocolOps } from "./proto.js";
import {
  CHUNK_ABORT,
  CHUNK_INIT,
  SCTP_S_CLOSED,
  SCTP_S_ESTABLISHED,
  SCTP_STATE_NAMES,
  sctpEvent,
  sctpEventChunk,
  sctpNextState,
  sctpStateActive,
} from "./sctp-state.js";
import { DIR_INPUT_ONLY, DIR_OUTPUT } from "./tcp-state.js";

export const SCTP_OPS: ProtocolOps = {
  protocol: IPPROTO_SCTP,
  name: "SCTP",
  onePacket: false,

  // An INIT (any chunk but ABORT with sloppy_sctp) starts an association; no chunk, nothing.
  schedulable: (pkt, sysctls) =>
    pkt.sctpChunk >= 0 &&
    pkt.sctpChunk !== CHUNK_ABORT &&
    (sysctls.sloppy_sctp !== 0 || pkt.sctpChunk === CHUNK_INIT),

  opensConnection: (pkt) => pkt.sctpChunk === CHUNK_INIT,

  newConnExpected(ds, i) {
    return ds.conns.control[i]! < 0 && ds.conns.state[i] === SCTP_S_CLOSED;
  },

  stateTransition(ds: DirectorState, i: number, dir: number, pkt: FlowPacket): void {
    // A packet without a chunk leaves state and timeout as they are.
    if (pkt.sctpChunk < 0) return;
    const t = ds.conns;
    let off = dir;
    const f = t.flags[i]!;
    // A DR/TUN conn sees only the client's side: its own table (INPUT_ONLY) until a reply shows up.
    if (f & CONN_F_NOOUTPUT) {
      if (dir === DIR_OUTPUT) t.flags[i] = f & ~CONN_F_NOOUTPUT;
      else off = DIR_INPUT_ONLY;
    }
    const old = t.state[i]!;
    const next = sctpNextState(off, sctpEvent(sctpEventChunk(pkt.sctpChunk, pkt.sctpNextChunk)), old);
    if (next !== old) {
      setActivity(ds, i, sctpStateActive(next));
      if (next === SCTP_S_ESTABLISHED) assureControl(ds, i);
      else if (old === SCTP_S_ESTABLISHED) ds.connEvents?.connEvent(i, CONN_EVENT_LEFT_ESTABLISHED);
    }
    t.setState(i, next);
    t.timeout[i] = ds.timeouts.sctp[next]!;
  },

  stateName: (state) => SCTP_STATE_NAMES[state] ?? "ERR!",

  answersStrayReply: (pkt) => pkt.sctpChunk !== CHUNK_ABORT,
};
