/** Runs tslvsadm command lines against the daemon's real request handler and IPVS core, in process. */

import { type NameResolver, TableResolver } from "../../src/cli/ipvsadm/resolver.js";
import { type RunResult, runIpvsadm } from "../../src/cli/ipvsadm/run.js";
import { ServicesDb } from "../../src/cli/ipvsadm/services-db.js";
import type { IpvsClient } from "../../src/control/client.js";
import { realDaemonClient } from "../support/real-director.js";

/** The services entries the goldens need (a fixed table, independent of the host's /etc/services). */
export const SERVICES_TEXT = `ssh 22/tcp
domain 53/tcp
domain 53/udp
http 80/tcp www
https 443/tcp
https 443/udp
sip 5060/tcp
sip 5060/udp
http-alt 8080/tcp webcache
`;

export interface RunOptions {
  stdin?: string;
  resolver?: NameResolver;
  argv0?: string;
}

export class Ipvsadm {
  /** The daemon's real request handler over the real IPVS core, in process. */
  readonly daemon = realDaemonClient();
  /** How to reach a daemon: the real handler in process by default, or another client (a socket). */
  constructor(private readonly connectTo?: () => Promise<IpvsClient>) {}
  resolver: NameResolver = new TableResolver(new Map(), new Map([["localhost", "127.0.0.1"]]));
  private readonly services = new ServicesDb(SERVICES_TEXT);

  /** Runs `line` (split on blanks; "ipvsadm" first word optional) or an explicit argv. */
  async run(line: string | string[], opts: RunOptions = {}): Promise<RunResult> {
    let args = typeof line === "string" ? line.split(" ").filter((w) => w !== "") : line;
    if (args[0] === "ipvsadm") args = args.slice(1);
    return runIpvsadm(opts.argv0 ?? "ipvsadm", args, {
      connect: this.connectTo ?? (async () => this.daemon),
      readStdin: async () => opts.stdin ?? "",
      resolver: opts.resolver ?? this.resolver,
      services: () => this.services,
    });
  }

  /** Runs each line and fails on the first non-zero status (for setting up a table). */
  async setup(lines: string): Promise<void> {
    for (const l of lines.split("\n").map((x) => x.replace(/^\$ /, "").trim())) {
      if (l === "") continue;
      const r = await this.run(l);
      if (r.code !== 0) throw new Error(`setup failed: ${l}: ${r.stderr}`);
    }
  }
}
