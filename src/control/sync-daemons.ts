import { existsSync, readFileSync } from "node:fs";
import { IpAddr } from "../core/address.js";
import { IpvsError } from "../core/errors.js";
import type { DaemonConfig, DaemonEntry, SyncCountersEntry } from "./api.js";
import { NOT_ACTED_ON } from "./not-acted-on.js";

/** A running sync daemon's sockets (sync-link.ts). */
export interface SyncLink {
  close(): void;
  readonly counters: SyncCountersEntry;
}

/**
 * The connection-synchronisation daemons (ipvsadm --start-daemon / --stop-daemon), with the
 * kernel's checks and defaults (ip_vs_sync.c start_sync_thread). With a runtime (the daemon's:
 * sync-link.ts), a started daemon sends or receives; without one (a table held in memory only),
 * entries are marked as not acted on.
 */
export class SyncDaemons {
  private readonly running = new Map<"master" | "backup", DaemonEntry>();
  private readonly links = new Map<"master" | "backup", SyncLink>();
  private runtime: ((entry: DaemonEntry) => SyncLink) | null = null;

  constructor(private readonly interfaceMtu: (ifname: string) => number | null = sysfsMtu) {}

  /** From now on, a started daemon runs through `open` (and those running are started). */
  setRuntime(open: (entry: DaemonEntry) => SyncLink): void {
    this.runtime = open;
    for (const [state, entry] of this.running) {
      delete entry.notActedOn;
      if (!this.links.has(state)) this.links.set(state, open(entry));
    }
  }

  start(config: DaemonConfig): DaemonEntry {
    if (this.running.has(config.state))
      throw new IpvsError("EEXIST", `a ${config.state} sync daemon is running`);
    const entry = this.resolve(config);
    if (this.runtime) {
      try {
        this.links.set(config.state, this.runtime(entry));
      } catch (e) {
        throw new IpvsError("EINVAL", (e as Error).message);
      }
    }
    this.running.set(config.state, entry);
    return entry;
  }

  /** The entry `config` would start, with the kernel's checks and defaults, without starting it. */
  resolve(config: DaemonConfig): DaemonEntry {
    if (config.state !== "master" && config.state !== "backup")
      throw new IpvsError("EINVAL", `sync daemon state must be master or backup, not ${config.state}`);
    const mtu = this.interfaceMtu(config.mcastIfn);
    if (mtu === null) throw new IpvsError("ENODEV", `no such interface: ${config.mcastIfn}`);
    const group = config.mcastGroup ? IpAddr.parse(config.mcastGroup) : IpAddr.v4(0xe0000051);
    if (!group || !isMulticast(group))
      throw new IpvsError("EINVAL", `sync group is not a multicast address: ${config.mcastGroup}`);
    const headers = group.family === 4 ? 28 : 48;
    let maxLen = config.syncMaxLen;
    if (!maxLen) {
      maxLen = config.state === "master" ? 1500 - headers : Math.min(65535, Math.max(1500, mtu)) - headers;
    }
    maxLen = Math.max(config.state === "master" ? 1 : 1024, Math.min(65535 - headers, maxLen));
    return {
      state: config.state,
      mcastIfn: config.mcastIfn,
      syncId: config.syncId,
      syncMaxLen: maxLen,
      mcastGroup: group.toString(),
      mcastPort: config.mcastPort || 8848,
      mcastTtl: config.mcastTtl || 1,
      ...(this.runtime ? {} : { notActedOn: [NOT_ACTED_ON.syncDaemon] }),
    };
  }

  stop(state: "master" | "backup"): void {
    if (!this.running.delete(state)) throw new IpvsError("ESRCH", `no ${state} sync daemon is running`);
    this.links.get(state)?.close();
    this.links.delete(state);
  }

  list(): DaemonEntry[] {
    return [...this.running.values()].map((d) => {
      const link = this.links.get(d.state);
      const entry: DaemonEntry = { ...d, notActedOn: [...(d.notActedOn ?? [])] };
      if (link) entry.counters = { ...link.counters, byReason: { ...link.counters.byReason } };
      return entry;
    });
  }

  clear(): void {
    this.running.clear();
    for (const l of this.links.values()) l.close();
    this.links.clear();
  }

  /** Closes every running daemon's sockets, keeping the entries (the state saved at stop lists them). */
  closeLinks(): void {
    for (const l of this.links.values()) l.close();
    this.links.clear();
  }

  /** The running daemons' sockets (for their counters). */
  link(state: "master" | "backup"): SyncLink | undefined {
    return this.links.get(state);
  }
}

function isMulticast(a: IpAddr): boolean {
  return a.family === 4 ? a.v4Value >>> 28 === 0xe : a.words[0]! >>> 24 === 0xff;
}

/** The interface's MTU from sysfs, or null when there is no such interface. */
function sysfsMtu(ifname: string): number | null {
  if (!/^[^/\0\s]{1,15}$/.test(ifname) || ifname === "." || ifname === "..") return null;
  const dir = `/sys/class/net/${ifname}`;
  if (!existsSync(dir)) return null;
  try {
    const mtu = Number(readFileSync(`${dir}/mtu`, "utf8").trim());
    return Number.isFinite(mtu) ? mtu : 1500;
  } catch {
    return 1500;
  }
}
