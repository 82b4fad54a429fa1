/**
 * The fast path's BPF maps: `tslvs_flows` (flow key -> rewrite, next hop, counters; layout in
 * flow-layout.ts) and `tslvs_fp_stats` (per-CPU counters of the program's decisions). Pinnable below
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

const FLOWS_NAME = "tslvs_flows";
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
    try {
      const stats = mapCreate({
        type: MapType.PERCPU_ARRAY,
        keySize: 4,
        valueSize: 8,
        maxEntries: FAST_PATH_COUNTERS,
        name: STATS_NAME,
      });
      return new FastPathMaps({ flows, stats }, maxFlows);
    } catch (e) {
      closeFd(flows);
      throw e;
    }
  }

  /** Opens maps pinned by `pin(dir)`; null when they are not there. */
  static openPinned(dir: string, maxFlows = DEFAULT_MAX_FLOWS): FastPathMaps | null {
    const fp = join(dir, FLOWS_NAME);
    const sp = join(dir, STATS_NAME);
    if (!existsSync(fp) || !existsSync(sp)) return null;
    const flows = objGet(fp);
    if (flows === null) return null;
    const stats = objGet(sp);
    if (stats === null) {
      closeFd(flows);
      return null;
    }
    return new FastPathMaps({ flows, stats }, maxFlows);
  }

  pin(dir: string): void {
    ensureBpffs();
    mkdirSync(dir, { recursive: true });
    for (const [name, fd] of [
      [FLOWS_NAME, this.fds.flows],
      [STATS_NAME, this.fds.stats],
    ] as const) {
      const path = join(dir, name);
      if (existsSync(path)) rmSync(path);
      objPin(fd, path);
    }
  }

  static unpin(dir: string): void {
    rmSync(join(dir, FLOWS_NAME), { force: true });
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
    closeFd(this.fds.stats);
  }
}
