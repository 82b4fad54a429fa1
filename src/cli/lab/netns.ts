import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from "node:child_process";
import { existsSync } from "node:fs";

/**
 * Hosts as network namespaces joined by veth links and bridges: the labs' and the network tests'
 * test bed. Everything it creates is recorded and removed by `destroy()`, which is safe to call more
 * than once and after partial failures. It never touches the root namespace's addresses or routes.
 */
export class NetLab {
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];
  private destroyed = false;

  /** `prefix` keeps concurrent labs apart (namespace names are global). */
  constructor(readonly prefix: string) {}

  /** The namespace name of a host. */
  ns(host: string): string {
    return `${this.prefix}-${host}`;
  }

  addHost(host: string): string {
    const name = this.ns(host);
    run(["ip", "netns", "add", name]);
    this.namespaces.push(name);
    this.exec(host, ["ip", "link", "set", "lo", "up"]);
    return name;
  }

  /**
   * A veth pair between two hosts (interface names are local to each namespace), with `queues` RX
   * and TX queues on each end (AF_XDP needs a socket per RX queue: tests of that want several).
   */
  link(hostA: string, ifA: string, hostB: string, ifB: string, queues = 1): void {
    const q = queues === 1 ? [] : ["numtxqueues", String(queues), "numrxqueues", String(queues)];
    run([
      "ip",
      "link",
      "add",
      "name",
      ifA,
      "netns",
      this.ns(hostA),
      ...q,
      "type",
      "veth",
      "peer",
      "name",
      ifB,
      ...q,
      "netns",
      this.ns(hostB),
    ]);
    this.exec(hostA, ["ip", "link", "set", ifA, "up"]);
    this.exec(hostB, ["ip", "link", "set", ifB, "up"]);
  }

  /** A bridge `bridge` inside host `switchHost`. */
  addBridge(switchHost: string, bridge: string): void {
    this.exec(switchHost, ["ip", "link", "add", bridge, "type", "bridge"]);
    this.exec(switchHost, ["ip", "link", "set", bridge, "up"]);
  }

  /** Plug `host`'s interface `ifname` into a bridge of `switchHost` (the peer is named after the host). */
  plug(
    host: string,
    ifname: string,
    switchHost: string,
    bridge: string,
    portName = `${host}-${ifname}`.slice(0, 15),
  ): void {
    this.link(host, ifname, switchHost, portName);
    this.exec(switchHost, ["ip", "link", "set", portName, "master", bridge]);
  }

  addAddr(host: string, ifname: string, cidr: string): void {
    this.exec(host, ["ip", "addr", "add", cidr, "dev", ifname]);
  }

  addRoute(host: string, ...args: string[]): void {
    this.exec(host, ["ip", "route", "add", ...args]);
  }

  sysctl(host: string, key: string, value: string | number): void {
    this.exec(host, ["sysctl", "-qw", `${key}=${value}`]);
  }

  mac(host: string, ifname: string): string {
    const out = JSON.parse(this.exec(host, ["ip", "-j", "link", "show", ifname])) as { address: string }[];
    return out[0]!.address;
  }

  /** An interface counter from /sys/class/net/<ifname>/statistics (rx_packets, tx_bytes, ...). */
  counter(host: string, ifname: string, name: string): number {
    return Number(this.exec(host, ["cat", `/sys/class/net/${ifname}/statistics/${name}`]).trim());
  }

  /** Run a command in a host and return its stdout (throws with stderr on failure). */
  exec(host: string, argv: string[], input?: string): string {
    return run(["ip", "netns", "exec", this.ns(host), ...argv], input);
  }

  /** Start a long-running process in a host; it is killed by destroy(). */
  spawn(host: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn("ip", ["netns", "exec", this.ns(host), ...argv], { stdio: "pipe", ...opts });
    this.processes.push(child);
    return child;
  }

  /**
   * Kill every process and delete every namespace this lab made; resolves with the namespaces it
   * could not delete (none when all went well), so a test can check it left nothing behind.
   */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    if (this.destroyed) return problems;
    this.destroyed = true;
    for (const p of this.processes) {
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGTERM");
    }
    await Promise.all(this.processes.map((p) => waitExit(p, 3000)));
    // Anything still running inside a namespace (e.g. children of our children) dies with it.
    for (const name of this.namespaces) {
      try {
        const pids = run(["ip", "netns", "pids", name]).split(/\s+/).filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            /* already gone */
          }
        }
      } catch {
        /* namespace already gone */
      }
    }
    for (const name of this.namespaces.reverse()) {
      try {
        run(["ip", "netns", "del", name]);
      } catch (e) {
        if (existsSync(`/run/netns/${name}`)) problems.push(`${name}: ${(e as Error).message}`);
      }
    }
    return problems;
  }
}

function run(argv: string[], input?: string): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), {
      encoding: "utf8",
      input,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${argv.join(" ")}: ${(err.stderr ?? "").trim() || err.message}`);
  }
}

function waitExit(p: ChildProcess, ms: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      p.kill("SIGKILL");
      resolve();
    }, ms);
    p.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** True when this process may build namespaces. */
export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}
