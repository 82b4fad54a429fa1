/**
 * The sync daemons' sockets (the kernel's ip_vs_sync.c master and backup threads), for
 * `tslvsadm --start-daemon master|backup`: the master sends each connection the packet path
 * marks as due (src/core/sync.ts) in version-1 messages of at most maxlen bytes
 * (src/net/ipvs-sync.ts) to the group and port, from the interface, with the TTL; a message goes
 * when full and at least once a second. The backup listens on the port, joined to the group on
 * the interface, and puts each received connection in the table. Both count what they did.
 */
import { createSocket, type Socket } from "node:dgram";
import { networkInterfaces } from "node:os";
import type { Logger } from "pino";
import { IpAddr } from "../core/address.js";
import { type SyncedConn, type SyncedResult, SyncMasterState } from "../core/sync.js";
import { decodeSyncMessage, type SyncConn, SyncMessageWriter, type SyncRefusal } from "../net/ipvs-sync.js";
import type { DaemonEntry, SyncCountersEntry } from "./api.js";
import type { DirectorPort } from "./director-port.js";

/** A message waits at most this long for more connections (the kernel: its sync thread's period). */
const FLUSH_MS = 1000;

/** The interface's first address of `family`, for the multicast socket options. */
function interfaceAddress(ifname: string, family: 4 | 6): string {
  const list = networkInterfaces()[ifname] ?? [];
  const a = list.find((x) => (family === 4 ? x.family === "IPv4" : x.family === "IPv6"));
  if (!a)
    throw new Error(
      `sync daemon: interface ${ifname} has no IPv${family} address to send or join the group from`,
    );
  return family === 6 ? `${a.address}%${ifname}` : a.address;
}

function toWire(r: SyncedConn): SyncConn {
  return {
    ...r,
    caddr: IpAddr.fromWords(r.family, r.caddr).toBytes(),
    vaddr: IpAddr.fromWords(r.family, r.vaddr).toBytes(),
    daddr: IpAddr.fromWords(r.family, r.daddr).toBytes(),
  };
}

function fromWire(c: SyncConn): SyncedConn {
  return {
    ...c,
    caddr: IpAddr.fromBytes(c.caddr).words,
    vaddr: IpAddr.fromBytes(c.vaddr).words,
    daddr: IpAddr.fromBytes(c.daddr).words,
  };
}

const count = (c: SyncCountersEntry, reason: string) => (c.byReason[reason] = (c.byReason[reason] ?? 0) + 1);

/** The master: what the packet path marks as due, sent. */
export class SyncMasterLink {
  readonly counters: SyncCountersEntry = { messages: 0, conns: 0, byReason: {} };
  private readonly sock: Socket;
  private readonly writer: SyncMessageWriter;
  private readonly timer: NodeJS.Timeout;
  private readonly group: string;

  constructor(
    private readonly entry: DaemonEntry,
    private readonly director: DirectorPort,
    private readonly log: Logger,
  ) {
    // SyncDaemons.resolve filled the group, port, maxlen and TTL with the kernel's defaults.
    this.group = entry.mcastGroup;
    const family = IpAddr.parse(this.group)?.family ?? 4;
    const from = interfaceAddress(entry.mcastIfn, family);
    this.writer = new SyncMessageWriter(entry.syncId, entry.syncMaxLen);
    this.sock = createSocket({ type: family === 6 ? "udp6" : "udp4" });
    this.sock.on("error", (e) => {
      count(this.counters, "socket-error");
      this.log.warn({ err: e.message }, "sync master: socket error");
    });
    this.sock.bind(0, from.split("%")[0], () => {
      this.sock.setMulticastInterface(from);
      this.sock.setMulticastTTL(entry.mcastTtl);
      this.sock.setMulticastLoopback(false);
    });
    director.setSyncMaster(new SyncMasterState(director.connCapacity, (i) => this.add(i)));
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  /** Called on the packet path: the connection goes into the message being filled. */
  private add(i: number): void {
    const c = toWire(this.director.syncRecord(i));
    if (!this.writer.add(c)) {
      this.flush();
      if (!this.writer.add(c)) count(this.counters, "too-large");
    }
  }

  /** Sends the message being filled, if it holds anything. */
  flush(): void {
    const n = this.writer.conns;
    const m = this.writer.finish();
    if (!m) return;
    this.counters.messages++;
    this.counters.conns += n;
    this.sock.send(m, this.entry.mcastPort, this.group, (e) => {
      if (e) count(this.counters, "send-error");
    });
  }

  close(): void {
    this.director.setSyncMaster(null);
    clearInterval(this.timer);
    this.flush();
    // The last message's send completes before the socket closes.
    setImmediate(() => this.sock.close());
  }
}

/** The backup: received connections into the table. */
export class SyncBackupLink {
  readonly counters: SyncCountersEntry = { messages: 0, conns: 0, byReason: {} };
  private readonly sock: Socket;

  constructor(
    entry: DaemonEntry,
    director: DirectorPort,
    clock: () => number,
    private readonly log: Logger,
  ) {
    const group = entry.mcastGroup;
    const family = IpAddr.parse(group)?.family ?? 4;
    const on = interfaceAddress(entry.mcastIfn, family);
    this.sock = createSocket({ type: family === 6 ? "udp6" : "udp4", reuseAddr: true });
    this.sock.on("error", (e) => {
      count(this.counters, "socket-error");
      this.log.warn({ err: e.message }, "sync backup: socket error");
    });
    this.sock.on("message", (buf: Buffer) => {
      this.counters.messages++;
      const d = decodeSyncMessage(buf, entry.syncId);
      if (d.refused) count(this.counters, d.refused satisfies SyncRefusal);
      for (let k = 0; k < d.skipped; k++) count(this.counters, "skipped");
      const now = clock();
      for (const c of d.conns) {
        this.counters.conns++;
        const r: SyncedResult = director.applySynced(fromWire(c), now);
        count(this.counters, r);
      }
    });
    this.sock.bind(entry.mcastPort, () => {
      try {
        this.sock.addMembership(group, on.split("%")[0]);
      } catch (e) {
        count(this.counters, "join-error");
        this.log.warn({ err: (e as Error).message, group }, "sync backup: cannot join the group");
      }
    });
  }

  close(): void {
    this.sock.close();
  }
}
