/**
 * Network namespaces for tests: names carry the test process id so parallel runs do not collide,
 * and `destroy()` removes every namespace made (deleting a namespace deletes its veths and ends
 * the sockets in it; processes started with spawnIn() are killed first).
 */
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from "node:child_process";

export class NetnsLab {
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  readonly tag: string;

  constructor(prefix: string) {
    this.tag = `${prefix}${process.pid}`;
  }

  /** Creates namespace `<name><tag>` with lo up; returns its full name. */
  add(name: string): string {
    const full = `${name}${this.tag}`;
    execFileSync("ip", ["netns", "add", full]);
    this.namespaces.push(full);
    this.exec(full, "ip", "link", "set", "lo", "up");
    return full;
  }

  /** Runs a command in a namespace and returns its stdout (throws with stderr on failure). */
  exec(ns: string, cmd: string, ...args: string[]): string {
    return execFileSync("ip", ["netns", "exec", ns, cmd, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 30_000,
    });
  }

  /** `ip` inside a namespace. */
  ip(ns: string, ...args: string[]): string {
    return this.exec(ns, "ip", ...args);
  }

  sysctl(ns: string, key: string, value: string | number): void {
    this.exec(ns, "sysctl", "-qw", `${key}=${value}`);
  }

  /** A veth pair between two namespaces (with `queues` RX and TX queues on each end). */
  veth(nsA: string, ifA: string, nsB: string, ifB: string, queues = 1): void {
    const q = ["numtxqueues", String(queues), "numrxqueues", String(queues)];
    execFileSync("ip", [
      "link",
      "add",
      `t${this.tag}`,
      "netns",
      nsA,
      ...q,
      "type",
      "veth",
      "peer",
      "name",
      ifB,
      ...q,
      "netns",
      nsB,
    ]);
    this.ip(nsA, "link", "set", `t${this.tag}`, "name", ifA);
    this.ip(nsA, "link", "set", ifA, "up");
    this.ip(nsB, "link", "set", ifB, "up");
  }

  mac(ns: string, ifname: string): string {
    return this.exec(ns, "cat", `/sys/class/net/${ifname}/address`).trim();
  }

  counter(ns: string, ifname: string, name: string): number {
    return Number(this.exec(ns, "cat", `/sys/class/net/${ifname}/statistics/${name}`).trim());
  }

  /** Starts a long-running process in a namespace; it is killed by destroy(). */
  spawnIn(ns: string, cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      ...options,
    });
    this.children.push(child);
    return child;
  }

  /** Kills every process started here and deletes every namespace; never throws. */
  destroy(): string[] {
    const problems: string[] = [];
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    for (const ns of this.namespaces.reverse()) {
      try {
        // Kill anything still running in the namespace (children of children).
        const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" })
          .split("\n")
          .filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // already gone
          }
        }
        execFileSync("ip", ["netns", "del", ns]);
      } catch (e) {
        problems.push(`${ns}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.namespaces.length = 0;
    return problems;
  }
}

/** Resolves with the first stdout line starting with `prefix` (rest of the line), or rejects. */
export function waitForLine(child: ChildProcess, prefix: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let err = "";
    const timer = setTimeout(
      () => finish(new Error(`no "${prefix}" line within ${timeoutMs} ms; stderr: ${err}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith(prefix)) return finish(null, line.slice(prefix.length).trim());
        nl = buf.indexOf("\n");
      }
    };
    const onErr = (d: Buffer) => {
      err += d.toString();
    };
    const onExit = (code: number | null) =>
      finish(new Error(`process exited (${code}) before "${prefix}"; stderr: ${err}`));
    function finish(e: Error | null, value?: string) {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onErr);
      child.off("exit", onExit);
      if (e) reject(e);
      else resolve(value!);
    }
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onErr);
    child.on("exit", onExit);
  });
}
