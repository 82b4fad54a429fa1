import { MapType, mapCreate, mapUpdate } from "../../platform/bpf.js";
import type { Umem } from "./umem.js";
import { rxQueueCount, XskSocket } from "./xsk-socket.js";

/** The AF_XDP sockets of one interface (one per RX queue) and the XSKMAP that routes to them. */
export interface QueueSockets {
  sockets: XskSocket[];
  /** XSKMAP fd: RX queue number -> that queue's socket. */
  xsksMap: number;
}

/**
 * Opens one AF_XDP socket per RX queue of `ifname` on `umem` (sharing it with `shareWith`, the first
 * socket bound to it, when there is one) and an XSKMAP of its own: keys are RX queue numbers, which
 * repeat across interfaces, so every interface gets its own map (and its own copy of the program).
 */
export function openQueueSockets(
  ifname: string,
  umem: Umem,
  shareWith: XskSocket | undefined,
  mapName: string,
): QueueSockets {
  const sockets: XskSocket[] = [];
  for (let q = 0; q < rxQueueCount(ifname); q++) {
    sockets.push(XskSocket.open({ ifname, queue: q, umem, shareWith: shareWith ?? sockets[0] }));
  }
  const xsksMap = mapCreate({
    type: MapType.XSKMAP,
    keySize: 4,
    valueSize: 4,
    maxEntries: 64,
    name: mapName,
  });
  const key = new Uint8Array(4);
  const value = new Uint8Array(4);
  sockets.forEach((s, q) => {
    new DataView(key.buffer).setUint32(0, q, true);
    new DataView(value.buffer).setUint32(0, s.fd, true);
    mapUpdate(xsksMap, key, value);
  });
  return { sockets, xsksMap };
}
