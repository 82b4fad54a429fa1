/**
 * The BPF maps the steering program reads, and the operations the control plane performs on them:
 * add/remove virtual services, real servers, FULLNAT local addresses and the host's own addresses,
 * bind AF_XDP sockets to RX queues, read the counters. Maps can be pinned below bpffs so that a
 * restarted daemon finds them again (objGet) instead of starting empty.
 */

import { existsSync, mkdirSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { IpAddr } from "../../core/address.js";
import {
  closeFd,
  ensureBpffs,
  MapType,
  mapCreate,
  mapDelete,
  mapLookup,
  mapUpdate,
  objGet,
  objPin,
} from "../../platform/bpf.js";
import { possibleCpus } from "../bpf/possible-cpus.js";
import {
  encodeHostOnlyValue,
  encodeLocalKey,
  encodeLocalKey6,
  encodeLocalValue,
  encodeSteerKey,
  encodeSteerKey6,
  IFMAC_KEY_SIZE,
  IFMAC_VALUE_SIZE,
  LOCAL_KEY_SIZE,
  LOCAL_VALUE_SIZE,
  LOCAL6_KEY_SIZE,
  MARK_KEY_FAMILY,
  MARK_KEY_MARK,
  MARK_KEY_SIZE,
  STEER_COUNTER_NAMES,
  STEER_COUNTERS,
  STEER_KEY_SIZE,
  STEER_KEY6_SIZE,
  STEER_VALUE_SIZE,
  type SteerCounter,
} from "./steering-layout.js";
import type { SteeringMapFds } from "./steering-program.js";

export interface SteeringMapSizes {
  services?: number;
  replies?: number;
  localAddresses?: number;
  /** Highest RX queue index + 1 that can get a socket. */
  queues?: number;
}

const MAP_NAMES: Record<keyof SteeringMapFds, string> = {
  services: "tslvs_services",
  replies: "tslvs_replies",
  localPorts: "tslvs_localport",
  services6: "tslvs_services6",
  replies6: "tslvs_replies6",
  localPorts6: "tslvs_localprt6",
  xsks: "tslvs_xsks",
  counters: "tslvs_counters",
  ifMacs: "tslvs_ifmacs",
  marks: "tslvs_marks",
};

export class SteeringMaps {
  private readonly key = new Uint8Array(STEER_KEY_SIZE);
  private readonly key6 = new Uint8Array(STEER_KEY6_SIZE);
  private readonly localKey6 = new Uint8Array(LOCAL6_KEY_SIZE);
  private readonly value = new Uint8Array(STEER_VALUE_SIZE);
  private readonly localKey = new Uint8Array(LOCAL_KEY_SIZE);
  private readonly localValue = new Uint8Array(LOCAL_VALUE_SIZE);
  private readonly u32Key = new Uint8Array(4);
  private closed = false;

  private constructor(readonly fds: SteeringMapFds) {}

  /** Creates fresh, empty maps. */
  static create(sizes: SteeringMapSizes = {}): SteeringMaps {
    const made: number[] = [];
    try {
      const mk = (type: number, keySize: number, valueSize: number, maxEntries: number, name: string) => {
        const fd = mapCreate({ type, keySize, valueSize, maxEntries, name });
        made.push(fd);
        return fd;
      };
      const fds: SteeringMapFds = {
        services: mk(
          MapType.HASH,
          STEER_KEY_SIZE,
          STEER_VALUE_SIZE,
          sizes.services ?? 4096,
          MAP_NAMES.services,
        ),
        replies: mk(
          MapType.HASH,
          STEER_KEY_SIZE,
          STEER_VALUE_SIZE,
          sizes.replies ?? 65536,
          MAP_NAMES.replies,
        ),
        localPorts: mk(
          MapType.HASH,
          LOCAL_KEY_SIZE,
          LOCAL_VALUE_SIZE,
          sizes.localAddresses ?? 256,
          MAP_NAMES.localPorts,
        ),
        services6: mk(
          MapType.HASH,
          STEER_KEY6_SIZE,
          STEER_VALUE_SIZE,
          sizes.services ?? 4096,
          MAP_NAMES.services6,
        ),
        replies6: mk(
          MapType.HASH,
          STEER_KEY6_SIZE,
          STEER_VALUE_SIZE,
          sizes.replies ?? 65536,
          MAP_NAMES.replies6,
        ),
        localPorts6: mk(
          MapType.HASH,
          LOCAL6_KEY_SIZE,
          LOCAL_VALUE_SIZE,
          sizes.localAddresses ?? 256,
          MAP_NAMES.localPorts6,
        ),
        xsks: mk(MapType.XSKMAP, 4, 4, sizes.queues ?? 64, MAP_NAMES.xsks),
        counters: mk(MapType.PERCPU_ARRAY, 4, 8, STEER_COUNTERS, MAP_NAMES.counters),
        ifMacs: mk(MapType.HASH, IFMAC_KEY_SIZE, IFMAC_VALUE_SIZE, 256, MAP_NAMES.ifMacs),
        marks: mk(MapType.HASH, MARK_KEY_SIZE, STEER_VALUE_SIZE, sizes.services ?? 4096, MAP_NAMES.marks),
      };
      return new SteeringMaps(fds);
    } catch (e) {
      for (const fd of made) closeFd(fd);
      throw e;
    }
  }

  /**
   * Opens the maps pinned in `dir` by `pin()`; returns null when they are not all there (then the
   * caller creates fresh ones).
   */
  static openPinned(dir: string): SteeringMaps | null {
    const opened: Partial<SteeringMapFds> = {};
    for (const [field, name] of Object.entries(MAP_NAMES) as [keyof SteeringMapFds, string][]) {
      const fd = existsSync(join(dir, name)) ? objGet(join(dir, name)) : null;
      if (fd === null) {
        for (const f of Object.values(opened)) closeFd(f);
        return null;
      }
      opened[field] = fd;
    }
    return new SteeringMaps(opened as SteeringMapFds);
  }

  /** Pins every map in `dir` (below bpffs, which is mounted if needed). */
  pin(dir: string): void {
    ensureBpffs();
    mkdirSync(dir, { recursive: true });
    for (const [field, name] of Object.entries(MAP_NAMES) as [keyof SteeringMapFds, string][]) {
      const path = join(dir, name);
      if (existsSync(path)) rmSync(path);
      objPin(this.fds[field], path);
    }
  }

  /** Removes the pins in `dir` (the maps live on while an fd or a program holds them). */
  static unpin(dir: string): void {
    for (const name of Object.values(MAP_NAMES)) rmSync(join(dir, name), { force: true });
    try {
      rmdirSync(dir);
    } catch {
      // not empty or already gone: other objects are pinned there
    }
  }

  /** Steers `protocol` traffic to addr:port (port 0: any port of that protocol). */
  addService(protocol: number, addr: IpAddr, port: number, id = 0): void {
    this.setId(id);
    const map = addr.family === 4 ? this.fds.services : this.fds.services6;
    mapUpdate(map, this.steerKey(protocol, addr, port), this.value);
    // Address marker, so fragments to the VIP are steered too.
    mapUpdate(map, this.steerKey(0, addr, 0), this.value);
  }

  /**
   * Stops steering protocol addr:port; returns false when it was not steered. `lastOnAddress` also
   * removes the address marker (pass true when no other service uses this address).
   */
  removeService(protocol: number, addr: IpAddr, port: number, lastOnAddress: boolean): boolean {
    const map = addr.family === 4 ? this.fds.services : this.fds.services6;
    const had = mapDelete(map, this.steerKey(protocol, addr, port));
    if (lastOnAddress) mapDelete(map, this.steerKey(0, addr, 0));
    return had;
  }

  /** Steers TCP/UDP/SCTP packets of `family` whose mark (from the nftables rules) is `mark`. */
  addMarkService(family: 4 | 6, mark: number): void {
    this.setId(0);
    mapUpdate(this.fds.marks, this.markKey(family, mark), this.value);
  }

  removeMarkService(family: 4 | 6, mark: number): boolean {
    return mapDelete(this.fds.marks, this.markKey(family, mark));
  }

  private readonly markKeyBuf = new Uint8Array(MARK_KEY_SIZE);
  private markKey(family: 4 | 6, mark: number): Uint8Array {
    const v = new DataView(this.markKeyBuf.buffer);
    v.setUint32(MARK_KEY_MARK, mark >>> 0, true);
    v.setUint32(MARK_KEY_FAMILY, family, true);
    return this.markKeyBuf;
  }

  /** Steers traffic coming from a real server's addr:port (NAT / FULLNAT replies). */
  addReplySource(protocol: number, addr: IpAddr, port: number, id = 0): void {
    this.setId(id);
    const map = addr.family === 4 ? this.fds.replies : this.fds.replies6;
    mapUpdate(map, this.steerKey(protocol, addr, port), this.value);
    mapUpdate(map, this.steerKey(0, addr, 0), this.value);
  }

  removeReplySource(protocol: number, addr: IpAddr, port: number, lastOnAddress: boolean): boolean {
    const map = addr.family === 4 ? this.fds.replies : this.fds.replies6;
    const had = mapDelete(map, this.steerKey(protocol, addr, port));
    if (lastOnAddress) mapDelete(map, this.steerKey(0, addr, 0));
    return had;
  }

  /** Steers packets to a FULLNAT local address whose destination port is in [minPort, maxPort]. */
  addLocalAddress(addr: IpAddr, minPort: number, maxPort: number): void {
    const map = addr.family === 4 ? this.fds.localPorts : this.fds.localPorts6;
    mapUpdate(map, this.localKeyOf(addr), encodeLocalValue(this.localValue, minPort, maxPort));
  }

  /**
   * Registers one of the host's own addresses that is not a LIP (an empty port range): replies from
   * real servers to it on any port then pass to the host (its health checkers' connections).
   * addLocalAddress on the same address replaces it, and the other way round.
   */
  addHostAddress(addr: IpAddr): void {
    const map = addr.family === 4 ? this.fds.localPorts : this.fds.localPorts6;
    mapUpdate(map, this.localKeyOf(addr), encodeHostOnlyValue(this.localValue));
  }

  /** Removes a LIP or a host address (they share the local_ports maps). */
  removeLocalAddress(addr: IpAddr): boolean {
    return mapDelete(addr.family === 4 ? this.fds.localPorts : this.fds.localPorts6, this.localKeyOf(addr));
  }

  private setId(id: number): void {
    new DataView(this.value.buffer).setUint32(0, id >>> 0, true);
  }

  private steerKey(protocol: number, addr: IpAddr, port: number): Uint8Array {
    return addr.family === 4
      ? encodeSteerKey(this.key, protocol, addr.v4Value, port)
      : encodeSteerKey6(this.key6, protocol, addr.words, port);
  }

  private localKeyOf(addr: IpAddr): Uint8Array {
    return addr.family === 4
      ? encodeLocalKey(this.localKey, addr.v4Value)
      : encodeLocalKey6(this.localKey6, addr.words);
  }

  /**
   * Registers the MAC of an interface the program is attached to: frames arriving there are steered
   * only when addressed to this MAC. Without it, nothing arriving on that interface is steered.
   */
  setInterfaceMac(ifindex: number, mac: Uint8Array): void {
    if (mac.length !== 6) throw new RangeError(`a MAC address has 6 bytes, got ${mac.length}`);
    const key = new Uint8Array(IFMAC_KEY_SIZE);
    new DataView(key.buffer).setUint32(0, ifindex, true);
    const value = new Uint8Array(IFMAC_VALUE_SIZE);
    value.set(mac);
    mapUpdate(this.fds.ifMacs, key, value);
  }

  removeInterface(ifindex: number): boolean {
    const key = new Uint8Array(IFMAC_KEY_SIZE);
    new DataView(key.buffer).setUint32(0, ifindex, true);
    return mapDelete(this.fds.ifMacs, key);
  }

  /** Frames steered on RX queue `queue` go to the AF_XDP socket `socketFd` (bound to that queue). */
  bindQueue(queue: number, socketFd: number): void {
    new DataView(this.u32Key.buffer).setUint32(0, queue, true);
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, socketFd, true);
    mapUpdate(this.fds.xsks, this.u32Key, v);
  }

  unbindQueue(queue: number): boolean {
    new DataView(this.u32Key.buffer).setUint32(0, queue, true);
    return mapDelete(this.fds.xsks, this.u32Key);
  }

  /** The program's counters summed over CPUs, by name. */
  counters(): Record<keyof typeof SteerCounter, bigint> {
    // A closed fd's number may already name another file.
    if (this.closed) throw new Error("the steering maps are closed");
    const ncpu = possibleCpus();
    const out = new Uint8Array(8 * ncpu);
    const view = new DataView(out.buffer);
    const result = {} as Record<keyof typeof SteerCounter, bigint>;
    STEER_COUNTER_NAMES.forEach((name, i) => {
      new DataView(this.u32Key.buffer).setUint32(0, i, true);
      let sum = 0n;
      if (mapLookup(this.fds.counters, this.u32Key, out)) {
        for (let c = 0; c < ncpu; c++) sum += view.getBigUint64(c * 8, true);
      }
      result[name] = sum;
    });
    return result;
  }

  /** Closes this process's fds (pinned maps and maps used by a loaded program live on). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of Object.values(this.fds)) closeFd(fd);
  }
}
