/**
 * Shared pieces of the data-plane network tests (test/dp-*.test.ts): a real `tslvs start` with the
 * AF_XDP engine inside a lab's director namespace, tslvsadm / tslvs sysctl against it, the real
 * servers' rs-server, and curl from the client namespace. Every wait is bounded.
 */
import { type ChildProcess, execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NetLab } from "../../src/cli/lab/netns.js";
import { RS_SERVER_JS, TSLVS_BIN, TSLVSADM_BIN } from "../../src/cli/lab/paths.js";
import { patternByte } from "../../src/cli/lab/rs-server.js";

/** Unique per test file and process (namespace names are global to the machine), owner-stamped. */
export { labPrefix } from "./test-owner.js";

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a value that is not undefined; throws `what` after `ms`. */
export async function waitFor<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what} (gave up after ${ms} ms)${last ? `: ${last}` : ""}`);
    await sleep(100);
  }
}

/** A running `tslvs start` in a lab namespace. */
export class DirectorProcess {
  log = "";
  private constructor(
    readonly child: ChildProcess,
    readonly runDir: string,
  ) {
    child.stdout?.on("data", (d: Buffer) => (this.log += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.log += d.toString()));
  }

  get socket(): string {
    return join(this.runDir, "tslvs.sock");
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the daemon (with the packet engine) on `ifaces` and waits until it answers tslvsadm. */
  static async start(
    lab: NetLab,
    host: string,
    ifaces: string[],
    extra: string[] = [],
  ): Promise<DirectorProcess> {
    const runDir = mkdtempSync(join(tmpdir(), "tslvs-dp-"));
    const args = ["node", TSLVS_BIN, "start", "--socket", join(runDir, "tslvs.sock")];
    args.push("--state", join(runDir, "state.yaml"), ...extra);
    for (const i of ifaces) args.push("--interface", i);
    const d = new DirectorProcess(lab.spawn(host, args, { stdio: ["ignore", "pipe", "pipe"] }), runDir);
    await waitFor("the director did not come up", 15000, () => {
      if (!d.running) throw new Error(`the director exited early:\n${d.log}`);
      if (!existsSync(d.socket)) return undefined;
      // The control socket answers before the packet engine has attached: wait for "ready".
      if (!d.log.includes('"msg":"ready"')) return undefined;
      d.adm(["-ln"]);
      return true;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${d.log}`);
    });
    return d;
  }

  /** Runs tslvsadm against this director; throws with its stderr on a non-zero exit. */
  adm(args: string[]): string {
    return execFileSync("node", [TSLVSADM_BIN, ...args], {
      encoding: "utf8",
      env: { ...process.env, TSLVS_SOCKET: this.socket },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 10000,
    });
  }

  /** `tslvs sysctl NAME=VALUE`. */
  sysctl(name: string, value: number): string {
    return execFileSync("node", [TSLVS_BIN, "sysctl", `${name}=${value}`, "--socket", this.socket], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 10000,
    });
  }

  /** The engine's counters from its last "packet engine stopped" log line (after stop()). */
  engineCounters(): Record<string, number> | undefined {
    for (const line of this.log.split("\n").reverse()) {
      if (!line.includes("packet engine stopped")) continue;
      try {
        return (JSON.parse(line) as { counters: Record<string, number> }).counters;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /** SIGTERM and wait (bounded) for the exit; the daemon then logs its engine counters. */
  async stop(): Promise<void> {
    if (this.running) {
      this.child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.child.once("exit", () => resolve());
        timer = setTimeout(resolve, 8000);
      });
      clearTimeout(timer);
      if (this.running) this.child.kill("SIGKILL");
    }
    rmSync(this.runDir, { recursive: true, force: true });
  }
}

export interface RealServerOptions {
  port?: number;
  /** The name each server answers with: default its lab name (RS2, ...). */
  label?: (name: string) => string;
  /** Idle keep-alive time of the HTTP server (rs-server's default is 1 s). */
  keepAliveMs?: number;
  /** The address to bind (default every address; DR binds the VIP so UDP answers come from it). */
  addr?: string;
}

/** Starts rs-server on every real server (HTTP and UDP on one port) and waits for each to say ready. */
export async function startRealServers(
  lab: NetLab,
  servers: { host: string; name: string }[],
  opts: RealServerOptions = {},
): Promise<void> {
  const port = String(opts.port ?? 80);
  const keep = String(opts.keepAliveMs ?? 1000);
  await Promise.all(
    servers.map((rs) => {
      const name = opts.label ? opts.label(rs.name) : rs.name;
      const argv = ["node", RS_SERVER_JS, "--name", name, "--port", port, "--keepalive-ms", keep];
      if (opts.addr) argv.push("--addr", opts.addr);
      return new LineProcess(lab.spawn(rs.host, argv), `${name}'s server`).nextLine(10000).then(() => {});
    }),
  );
}

/** The path of a compiled support script (dist/test/support/NAME.js). */
export function supportScript(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

/** A child whose stdout is read line by line (support scripts print one JSON line per event). */
export class LineProcess {
  readonly lines: string[] = [];
  private taken = 0;
  private stderr = "";
  private wake: (() => void) | null = null;

  constructor(
    readonly child: ChildProcess,
    private readonly what: string,
  ) {
    let buf = "";
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf("\n");
      while (i >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf("\n");
      }
      this.wake?.();
    });
    child.stderr?.on("data", (d: Buffer) => (this.stderr += d.toString()));
    child.once("exit", () => this.wake?.());
  }

  /** Starts a support script in a lab host. */
  static script(lab: NetLab, host: string, name: string, args: string[]): LineProcess {
    return new LineProcess(lab.spawn(host, ["node", supportScript(name), ...args]), name);
  }

  /** The next line not yet taken, waiting at most `ms`. */
  async nextLine(ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.taken >= this.lines.length) {
      const exited = this.child.exitCode !== null || this.child.signalCode !== null;
      if (exited || Date.now() > deadline) {
        throw new Error(`${this.what}: no line within ${ms} ms (exited: ${exited}); stderr: ${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.lines[this.taken++]!;
  }

  /** The next line parsed as JSON. */
  async next<T = Record<string, unknown>>(ms: number): Promise<T> {
    return JSON.parse(await this.nextLine(ms)) as T;
  }

  /** Writes a line to the child's stdin. */
  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Waits (bounded) for the child to exit on its own; returns every line it printed. */
  async finish(ms: number): Promise<string[]> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.child.once("exit", () => resolve());
        timer = setTimeout(resolve, ms);
      });
      clearTimeout(timer);
    }
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
      throw new Error(`${this.what} did not finish within ${ms} ms; stderr: ${this.stderr}`);
    }
    return this.lines;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
  }
}

export interface HttpReply {
  status: number;
  server: string;
  seenClient: string;
  body: Buffer;
}

/** One curl request from `host` (bounded by `maxSeconds`); throws when curl fails. */
export function curl(
  lab: NetLab,
  host: string,
  url: string,
  extra: string[] = [],
  maxSeconds = 5,
): HttpReply {
  // Headers go to a file: curl 7.88 crashes writing them to /dev/stderr when stderr is a pipe.
  const dir = mkdtempSync(join(tmpdir(), "tslvs-curl-"));
  try {
    const headFile = join(dir, "head");
    const argv = ["netns", "exec", lab.ns(host), "curl", "-s", "-S", "-m", String(maxSeconds)];
    const r = spawnSync("ip", [...argv, "-D", headFile, ...extra, url], {
      maxBuffer: 64 << 20,
      timeout: (maxSeconds + 5) * 1000,
    });
    if (r.status !== 0) {
      const why = r.status ?? r.signal ?? r.error?.message;
      throw new Error(`curl ${url} from ${host}: exit ${why}: ${r.stderr.toString().trim()}`);
    }
    const head = readFileSync(headFile, "latin1");
    const header = (n: string) => new RegExp(`^${n}: (.*)$`, "mi").exec(head)?.[1]?.trim() ?? "";
    const statuses = [...head.matchAll(/^HTTP\/[\d.]+ (\d+)/gm)];
    const status = Number(statuses.at(-1)?.[1] ?? 0);
    return { status, server: header("x-server"), seenClient: header("x-seen-client"), body: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The index of the first byte of `body` that differs from rs-server's bulk pattern, or -1. */
export function firstPatternMismatch(body: Uint8Array): number {
  for (let i = 0; i < body.length; i++) if (body[i] !== patternByte(i)) return i;
  return -1;
}

/** An interface's byte counters, read inside its namespace. */
export function linkBytes(lab: NetLab, host: string, ifname: string): { rx: number; tx: number } {
  const j = JSON.parse(lab.exec(host, ["ip", "-j", "-s", "link", "show", ifname])) as {
    stats64: { rx: { bytes: number }; tx: { bytes: number } };
  }[];
  return { rx: j[0]!.stats64.rx.bytes, tx: j[0]!.stats64.tx.bytes };
}

/** Parses the real-server lines of `tslvsadm -ln` into address -> {active, inactive, weight}. */
export function destCounts(
  listing: string,
): Map<string, { weight: number; active: number; inactive: number }> {
  const out = new Map<string, { weight: number; active: number; inactive: number }>();
  for (const m of listing.matchAll(/^ {2}-> (\S+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/gm)) {
    out.set(m[1]!, { weight: Number(m[2]), active: Number(m[3]), inactive: Number(m[4]) });
  }
  return out;
}
