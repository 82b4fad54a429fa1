/**
 * The real IPVS core behind the daemon's port, for the control-plane tests: in memory,
 * deterministic (a fixed random source), small (4,096 entries), with the kernel's own checks. The
 * tests then fail when the Director diverges from what they expect, not a stand-in for it.
 * `ticks` records the times the daemon's timer handed to it.
 */

import type { Request } from "../../src/control/api.js";
import { ApiHandler } from "../../src/control/api-handler.js";
import type { IpvsClient } from "../../src/control/client.js";
import { CoreDirectorPort } from "../../src/control/core-director-port.js";
import { SyncDaemons } from "../../src/control/sync-daemons.js";
import { Director } from "../../src/core/director.js";
import { IpvsError } from "../../src/core/errors.js";

/** The interfaces of the host the CLI spec's transcripts were taken on. */
const SPEC_HOST_INTERFACES = ["lo", "eth0", "eth1"];

export class RealDirector extends CoreDirectorPort {
  readonly ticks: number[] = [];

  constructor() {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    };
    super(new Director({ connCapacity: 4096, random }));
  }

  override tick(now: number): void {
    this.ticks.push(now);
    super.tick(now);
  }
}

/** A tslvsadm client served in process by the daemon's real request handler (see realDaemonClient). */
export interface RealDaemonClient extends IpvsClient {
  readonly director: RealDirector;
  /** Every request received, in order, as it arrived (after JSON). */
  readonly requests: Request[];
  /**
   * For formatter tests that need state no command can create (counters of a busy day, SCTP or SIP
   * connections): the real reply to `op` goes through `edit` first. A canned reply, not a stand-in
   * for the daemon: the request is still handled by the real handler.
   */
  override(op: Request["op"], edit: (result: unknown) => unknown): void;
}

/**
 * A tslvsadm client served in process by the daemon's real request handler over a RealDirector,
 * each request and reply through JSON as over the socket; refusals carry the handler's errno.
 */
export function realDaemonClient(
  director = new RealDirector(),
  now: () => number = () => 0,
): RealDaemonClient {
  const handler = new ApiHandler(director, {
    now,
    readiness: () => ({ ready: true, dataPlane: null }),
    // The spec's transcripts were taken on a host with lo, eth0 and eth1 (MTU 1500).
    syncDaemons: new SyncDaemons((ifname) => (SPEC_HOST_INTERFACES.includes(ifname) ? 1500 : null)),
  });
  const requests: Request[] = [];
  const edits = new Map<string, (result: unknown) => unknown>();
  return {
    director,
    requests,
    override: (op, edit) => edits.set(op, edit),
    call: async <T>(req: Request): Promise<T> => {
      const r = JSON.parse(JSON.stringify(req)) as Request;
      requests.push(r);
      let result: unknown;
      try {
        result = JSON.parse(JSON.stringify(handler.handle(r as unknown as Record<string, unknown>) ?? null));
      } catch (e) {
        const errno = (e as { errno?: unknown }).errno;
        throw new IpvsError(typeof errno === "string" ? errno : "EIO", (e as Error).message);
      }
      const edit = edits.get(r.op);
      return (edit ? edit(result) : result) as T;
    },
    close: () => {},
  };
}
