/**
 * The maps of the TUN real server's XDP program (ipip-steering-program.ts), but for the per-interface
 * XSKMAP: the host's addresses, the VIPs, and the per-CPU counters of what the program did itself.
 * One set serves every interface the program is attached to.
 */
import type { IpAddr } from "../../core/address.js";
import { closeFd, MapType, mapCreate, mapLookup, mapUpdate } from "../../platform/bpf.js";
import { possibleCpus } from "../bpf/possible-cpus.js";
import { IPIP_XDP_COUNTERS, type IpipSteeringFds, IpipXdpCounter } from "./ipip-steering-program.js";

/** What the XDP program did with tunnel packets without user space, summed over CPUs. */
export interface IpipXdpCounts {
  decapsulated: number;
  notForVip: number;
}

const MAX_ADDRS = 256;

export class IpipSteeringMaps {
  private readonly ncpu = possibleCpus();
  private readonly statKey = new Uint8Array(4);
  private readonly statOut: Uint8Array;
  private readonly one = Uint8Array.of(1);
  private open = true;

  private constructor(readonly fds: Omit<IpipSteeringFds, "xsks">) {
    this.statOut = new Uint8Array(8 * this.ncpu);
  }

  static create(): IpipSteeringMaps {
    const made: number[] = [];
    const mk = (keySize: number, name: string) => {
      const fd = mapCreate({ type: MapType.HASH, keySize, valueSize: 1, maxEntries: MAX_ADDRS, name });
      made.push(fd);
      return fd;
    };
    try {
      const addrs = mk(4, "tslvs_rs_addrs");
      const addrs6 = mk(16, "tslvs_rs_addrs6");
      const vips = mk(4, "tslvs_rs_vips");
      const vips6 = mk(16, "tslvs_rs_vips6");
      const stats = mapCreate({
        type: MapType.PERCPU_ARRAY,
        keySize: 4,
        valueSize: 8,
        maxEntries: IPIP_XDP_COUNTERS,
        name: "tslvs_rs_stats",
      });
      return new IpipSteeringMaps({ addrs, addrs6, vips, vips6, stats });
    } catch (e) {
      for (const fd of made) closeFd(fd);
      throw e;
    }
  }

  /** Tunnel packets to `a` are the host's to take. */
  addHostAddress(a: IpAddr): void {
    mapUpdate(a.family === 4 ? this.fds.addrs : this.fds.addrs6, a.toBytes(), this.one);
  }

  /** Inner packets to `a` may be delivered. */
  addVip(a: IpAddr): void {
    mapUpdate(a.family === 4 ? this.fds.vips : this.fds.vips6, a.toBytes(), this.one);
  }

  /** The program's counters, summed over CPUs (zeros once closed). */
  counts(): IpipXdpCounts {
    return {
      decapsulated: this.sum(IpipXdpCounter.DECAPSULATED),
      notForVip: this.sum(IpipXdpCounter.NOT_FOR_VIP),
    };
  }

  private sum(id: number): number {
    if (!this.open) return 0;
    new DataView(this.statKey.buffer).setUint32(0, id, true);
    if (!mapLookup(this.fds.stats, this.statKey, this.statOut)) return 0;
    const view = new DataView(this.statOut.buffer);
    let n = 0;
    for (let c = 0; c < this.ncpu; c++) n += Number(view.getBigUint64(c * 8, true));
    return n;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    for (const fd of Object.values(this.fds)) closeFd(fd);
  }
}
