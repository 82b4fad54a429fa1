/**
 * UDP (the kernel's ip_vs_proto_udp.c): no states, one timeout re-armed by every packet; a reply
 * makes the controlling persistence template ASSURED.
 */
import { assureControl } from "./conn.js";
import { IPPROTO_UDP } from "./flow.js";
import type { ProtocolOps } from "./proto.js";
import { DIR_OUTPUT } from "./tcp-state.js";

export const UDP_OPS: ProtocolOps = {
  protocol: IPPROTO_UDP,
  name: "UDP",
  onePacket: true,
  schedulable: () => true,
  opensConnection: () => false,
  newConnExpected: () => false,
  stateTransition(ds, i, dir) {
    ds.conns.timeout[i] = ds.timeouts.udp;
    if (dir === DIR_OUTPUT) assureControl(ds, i);
  },
  stateName: () => "UDP",
  answersStrayReply: () => true,
};
