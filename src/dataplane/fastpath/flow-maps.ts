/**
 * The fast path's BPF maps: `tslvs_flows` and `tslvs_flows6` (flow key -> rewrite, next hop,
 * counters; layouts in flow-layout.ts and flow-layout-ipv6.ts) and `tslvs_fp_stats` (per-CPU counters of the program's decisions). Pinnable below
 * bpffs like the steering maps, so that a restarted daemon can find the established flows again.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { closeFd, ensureBpffs, MapType, mapCreate, mapLookup, objGet, objPin } from "../../platform/bpf.js";
import { possibleCpus } from "../bpf/possible-cpus.js";
import type { FastPathMapFds } from "./fast-path-program.js";
import {
  FAST_PATH_COUNTER_NAMES,
  FAST_PATH_COUNTERS,
  type FastPathCounter,
  FLOW_KEY_SIZE,
  FLOW_VALUE_SIZE,
} from "./flow-layout.js";
import { FLOW6_KEY_SIZE, FLOW6_VALUE_SIZE } from "./flow-layout-ipv6.js";

const FLOWS_NAME = "tslvs_flows";
const FLOWS6_NAME = "tslvs_flows6";
const STATS_NAME = "tslvs_fp_stats";
/** BPF_F_NO_PREALLOC: entries are allocated on insert, so a large limit costs nothing up front. */
const BPF_F_NO_PREALLOC = 1;

/** Default flow-map size: two entries (one per direction) per offloaded NAT conn. */
export const DEFAULT_MAX_FLOWS = 262144;

export type FastPathCounters = Record<keyof typeof FastPathCounter, number>;

export class FastPathMaps {
  private closed = false;
  private readonly ncpu = possibleCpus();
  private readonly statKey = new Uint8Array(4);
  private readonly statOut: Uint8Array;

  private constructor(
    readonly fds: FastPathMapFds,
    readonly maxFlows: number,
  ) {
    this.statOut = new Uint8Array(8 * this.ncpu);
  }

  static create(maxFlows = DEFAULT_MAX_FLOWS): FastPathMaps {
    if (!Number.isInteger(maxFlows) || maxFlows < 1) throw new RangeError(`bad flow-map size ${maxFlows}`);
    const flows = mapCreate({
      type: MapType.HASH,
      keySize: FLOW_KEY_SIZE,
      valueSize: FLOW_VALUE_SIZE,
      maxEntries: maxFlows,
      flags: BPF_F_NO_PREALLOC,
      name: FLOWS_NAME,
    });
    let flows6 = -1;
    try {
      flows6 = mapCreate({
        type: MapType.HASH,
        keySize: FLOW6_KEY_SIZE,
        valueSize: FLOW6_VALUE_SIZE,
        maxEntries: maxFlows,
        flags: BPF_F_NO_PREALLOC,
        name: FLOWS6_NAME,
      });
      const stats = mapCreate({
        type: MapType.PERCPU_ARRAY,
        keySize: 4,
        valueSize: 8,
        maxEntries: FAST_PATH_COUNTERS,
        name: STATS_NAME,
      });
      return new FastPathMaps({ flows, flows6, stats }, maxFlows);
    } catch (e) {
      closeFd(flows);
      if (flows6 >= 0) closeFd(flows6);
      throw e;
    }
  }

  /** Opens maps pinned by `pin(dir)`; null when they are not there. */
  static openPinned(dir: string, maxFlows = DEFAULT_MAX_FLOWS): FastPathMaps | null {
    const paths = [FLOWS_NAME, FLOWS6_NAME, STATS_NAME].map((n) => join(dir, n));
    if (!paths.every((p) => existsSync(p))) return null;
    const fds: number[] = [];
    for (const p of paths) {
      const fd = objGet(p);
      if (fd === null) {
        for (const f of fds) closeFd(f);
        return null;
      }
      fds.push(fd);
    }
    return new FastPathMaps({ flows: fds[0]!, flows6: fds[1]!, stats: fds[2]! }, maxFlows);
  }

  pin(dir: string): void {
    ensureBpffs();
    mkdirSync(dir, { recursive: true });
    for (const [name, fd] of [
      [FLOWS_NAME, this.fds.flows],
      [FLOWS6_NAME, this.fds.flows6],
      [STATS_NAME, this.fds.stats],
    ] as const) {
      const path = join(dir, name);
      if (existsSync(path)) rmSync(path);
      objPin(fd, path);
    }
  }

  static unpin(dir: string): void {
    rmSync(join(dir, FLOWS_NAME), { force: true });
    rmSync(join(dir, FLOWS6_NAME), { force: true });
    rmSync(join(dir, STATS_NAME), { force: true });
  }

  /** The program's decision counters, summed over CPUs. */
  counters(): FastPathCounters {
    const view = new DataView(this.statOut.buffer);
    const out = {} as FastPathCounters;
    FAST_PATH_COUNTER_NAMES.forEach((name, i) => {
      new DataView(this.statKey.buffer).setUint32(0, i, true);
      let sum = 0;
      if (mapLookup(this.fds.stats, this.statKey, this.statOut)) {
        for (let c = 0; c < this.ncpu; c++) sum += Number(view.getBigUint64(c * 8, true));
      }
      out[name] = sum;
    });
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeFd(this.fds.flows);
    closeFd(this.fds.flows6);
    closeFd(this.fds.stats);
  }
}
