import { assureControl, notifyDest } from "./conn.js";
import { CONN_F_INACTIVE, CONN_F_NOOUTPUT } from "./conn-table.js";
import { CONN_EVENT_LEFT_ESTABLISHED, type DirectorState } from "./director-state.js";
import { type FlowPacket, IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";
import {
  DIR_INPUT_ONLY,
  DIR_OUTPUT,
  TCP_S_ESTABLISHED,
  TCP_STATES,
  TCP_STATES_SECURE,
  tcpNextState,
  tcpStateActive,
} from "./tcp-state.js";

export function setState(ds: DirectorState, i: number, dir: number, pkt: FlowPacket): void {
  const t = ds.conns;
  const proto = t.protoOf(i);
  if (proto === IPPROTO_TCP) {
    let off = dir;
    const f = t.flags[i]!;
    if (f & CONN_F_NOOUTPUT) {
      if (dir === DIR_OUTPUT) t.flags[i] = f & ~CONN_F_NOOUTPUT;
      else off = DIR_INPUT_ONLY;
    }
    const table = ds.sysctls.secure_tcp === 3 ? TCP_STATES_SECURE : TCP_STATES;
    const old = t.state[i]!;
    const next = tcpNextState(table, off, old, pkt.tcpFlags);
    if (next !== old) {
      const id = t.destId[i]!;
      if (id >= 0) {
        const dest = ds.destById[id]!;
        const fl = t.flags[i]!;
        if (!(fl & CONN_F_INACTIVE) && !tcpStateActive(next)) {
          dest.activeConns--;
          dest.inactConns++;
          t.flags[i] = fl | CONN_F_INACTIVE;
          notifyDest(ds, dest);
        } else if (fl & CONN_F_INACTIVE && tcpStateActive(next)) {
          dest.activeConns++;
          dest.inactConns--;
          t.flags[i] = fl & ~CONN_F_INACTIVE;
          notifyDest(ds, dest);
        }
      }
      if (next === TCP_S_ESTABLISHED) assureControl(ds, i);
      else if (old === TCP_S_ESTABLISHED) ds.connEvents?.connEvent(i, CONN_EVENT_LEFT_ESTABLISHED);
    }
    t.state[i] = next;
    t.timeout[i] = ds.timeouts.tcp[next]!;
  } else if (proto === IPPROTO_UDP) {
    t.timeout[i] = ds.timeouts.udp;
    if (dir === DIR_OUTPUT) assureControl(ds, i);
  }
}
