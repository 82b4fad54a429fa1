/**
 * TCP (the kernel's ip_vs_proto_tcp.c): the state machine over the packets' flags (tcp-state.ts holds
 * the tables), the active/inactive accounting that follows it, and TCP's rules for new and reused
 * connections.
 */
import { assureControl, setActivity } from "./conn.js";
import { CONN_F_NOOUTPUT } from "./conn-table.js";
import { CONN_EVENT_LEFT_ESTABLISHED, type DirectorState } from "./director-state.js";
import { type FlowPacket, IPPROTO_TCP, TCP_ACK, TCP_RST, TCP_SYN } from "./flow.js";
import type { ProtocolOps } from "./proto.js";
import {
  DIR_INPUT_ONLY,
  DIR_OUTPUT,
  TCP_S_CLOSE,
  TCP_S_ESTABLISHED,
  TCP_S_FIN_WAIT,
  TCP_S_SYN_RECV,
  TCP_S_SYNACK,
  TCP_S_TIME_WAIT,
  TCP_STATE_NAMES,
  TCP_STATES,
  TCP_STATES_SECURE,
  tcpNextState,
  tcpStateActive,
} from "./tcp-state.js";

/**
 * The health sensor's counts (docs/decisions/1010-data-path-health-sensor.md): conn i is still in
 * its handshake. A bare SYN from the client is a retransmission (the director scheduled the first
 * one); a RST from the real server is a refusal. Two increments on the dest, nothing allocated.
 */
function countHandshake(ds: DirectorState, i: number, dir: number, flags: number): void {
  const id = ds.conns.destId[i]!;
  if (id < 0) return;
  const dest = ds.destById[id]!;
  if (dir === DIR_OUTPUT) {
    if (flags & TCP_RST) dest.rstReplies++;
  } else if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN) dest.synRetransmits++;
}

export const TCP_OPS: ProtocolOps = {
  protocol: IPPROTO_TCP,
  name: "TCP",
  onePacket: false,

  // A new connection starts with a SYN (any packet but a RST with sloppy_tcp).
  schedulable: (pkt, sysctls) =>
    !(pkt.tcpFlags & TCP_RST) && (sysctls.sloppy_tcp !== 0 || (pkt.tcpFlags & TCP_SYN) !== 0),

  opensConnection: (pkt) => (pkt.tcpFlags & TCP_SYN) !== 0,

  newConnExpected(ds, i, reuseMode) {
    const t = ds.conns;
    if (t.control[i]! >= 0) return false;
    const s = t.state[i]!;
    return (
      s === TCP_S_TIME_WAIT ||
      s === TCP_S_CLOSE ||
      ((reuseMode & 2) !== 0 && s === TCP_S_FIN_WAIT && (t.flags[i]! & CONN_F_NOOUTPUT) !== 0)
    );
  },

  stateTransition(ds: DirectorState, i: number, dir: number, pkt: FlowPacket): void {
    const t = ds.conns;
    let off = dir;
    const f = t.flags[i]!;
    // A DR/TUN conn sees only the client's side: its own table (INPUT_ONLY) until a reply shows up.
    if (f & CONN_F_NOOUTPUT) {
      if (dir === DIR_OUTPUT) t.flags[i] = f & ~CONN_F_NOOUTPUT;
      else off = DIR_INPUT_ONLY;
    }
    const table = ds.defense.secureTcp ? TCP_STATES_SECURE : TCP_STATES;
    const old = t.state[i]!;
    const next = tcpNextState(table, off, old, pkt.tcpFlags);
    if (old === TCP_S_SYN_RECV || old === TCP_S_SYNACK) countHandshake(ds, i, dir, pkt.tcpFlags);
    if (next !== old) {
      setActivity(ds, i, tcpStateActive(next));
      if (next === TCP_S_ESTABLISHED) assureControl(ds, i);
      else if (old === TCP_S_ESTABLISHED) ds.connEvents?.connEvent(i, CONN_EVENT_LEFT_ESTABLISHED);
    }
    t.setState(i, next);
    t.timeout[i] = ds.timeouts.tcp[next]!;
  },

  stateName: (state) => TCP_STATE_NAMES[state] ?? "NONE",

  answersStrayReply: (pkt) => !(pkt.tcpFlags & TCP_RST),
};
