/**
 * What the VRRP lab tests share: one Ethernet segment (a bridge in a "switch" namespace) with
 * routers and an observer on it, each with eth0 in 198.18.5.0/24; keepalived.conf texts for one
 * instance; tslvs directors and Debian's keepalived started on them; where the VIP is; and
 * `tslvs status --json`.
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetLab } from "../../src/cli/lab/netns.js";
import { TSLVS_BIN } from "../../src/cli/lab/paths.js";
import type { InfoEntry } from "../../src/control/api.js";
import { DirectorProcess, labPrefix, sleep } from "./dp-harness.js";

export const VIP = "198.18.5.100";
export const SEGMENT = "198.18.5";

export interface VrrpLab {
  lab: NetLab;
  /** host name -> its eth0 address */
  addr: Record<string, string>;
  dir: string;
  destroy(): Promise<void>;
}

/** Hosts on one bridge; the n-th gets 198.18.5.(n+1)/24 on eth0. */
export function buildSegment(name: string, hosts: string[]): VrrpLab {
  const lab = new NetLab(labPrefix(name));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-vrrp-"));
  const addr: Record<string, string> = {};
  try {
    lab.addHost("sw");
    lab.addBridge("sw", "br0");
    hosts.forEach((h, i) => {
      lab.addHost(h);
      // Link-local addresses usable at once (no DAD wait): the IPv6 VRRP source.
      lab.sysctl(h, "net.ipv6.conf.default.accept_dad", 0);
      lab.plug(h, "eth0", "sw", "br0");
      addr[h] = `${SEGMENT}.${i + 1}`;
      lab.addAddr(h, "eth0", `${addr[h]}/24`);
    });
  } catch (e) {
    void lab.destroy();
    throw e;
  }
  return {
    lab,
    addr,
    dir,
    destroy: async () => {
      await lab.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface InstanceText {
  priority: number;
  state?: "MASTER" | "BACKUP";
  nopreempt?: boolean;
  pass?: string;
  advertInt?: number;
  version?: 2 | 3;
  vrid?: number;
  extra?: string[];
}

/** One vrrp_instance VI_1 on eth0 with the VIP (and PASS auth unless pass is ""). */
export function instanceConf(o: InstanceText): string {
  const pass = o.pass ?? "s3cret";
  return [
    "vrrp_instance VI_1 {",
    `    state ${o.state ?? "BACKUP"}`,
    "    interface eth0",
    `    virtual_router_id ${o.vrid ?? 51}`,
    `    priority ${o.priority}`,
    `    advert_int ${o.advertInt ?? 1}`,
    ...(o.version ? [`    version ${o.version}`] : []),
    ...(o.nopreempt ? ["    nopreempt"] : []),
    ...(pass && (o.version ?? 2) === 2
      ? ["    authentication {", "        auth_type PASS", `        auth_pass ${pass}`, "    }"]
      : []),
    "    virtual_ipaddress {",
    `        ${VIP}/24 dev eth0 label eth0:vip`,
    "    }",
    ...(o.extra ?? []).map((l) => `    ${l}`),
    "}",
    "",
  ].join("\n");
}

/**
 * A tslvs director on `host` reading `conf`: without the packet data plane unless asked (VRRP
 * needs none; one test runs it beside the data plane on eth0), with `extra` arguments.
 */
export async function startTslvs(
  v: VrrpLab,
  host: string,
  conf: string,
  tag: string,
  opts: { dataPlane?: boolean; extra?: string[] } = {},
): Promise<DirectorProcess> {
  const file = join(v.dir, `${host}-${tag}.conf`);
  writeFileSync(file, conf);
  return DirectorProcess.start(v.lab, host, opts.dataPlane ? ["eth0"] : [], [
    "--keepalived-conf",
    file,
    ...(opts.dataPlane ? [] : ["--no-dataplane"]),
    ...(opts.extra ?? []),
  ]);
}

/**
 * Debian's keepalived, VRRP only (-P: its checker needs ip_vs), in the foreground, logging to
 * stderr, its pid files in the lab's directory (never /run's defaults).
 */
export function startKeepalived(v: VrrpLab, host: string, conf: string, tag: string): KeepalivedProcess {
  const file = join(v.dir, `${host}-${tag}-keepalived.conf`);
  writeFileSync(file, conf);
  const pid = (what: string) => join(v.dir, `${host}-${tag}-${what}.pid`);
  const child = v.lab.spawn(
    host,
    [
      "keepalived",
      "-P",
      "-n",
      "-l",
      "-D",
      "-G",
      "-f",
      file,
      "-p",
      pid("keepalived"),
      "-r",
      pid("vrrp"),
      "-c",
      pid("checkers"),
      "-b",
      pid("bfd"),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  return new KeepalivedProcess(child);
}

export class KeepalivedProcess {
  log = "";
  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (d: Buffer) => (this.log += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.log += d.toString()));
  }

  /** Waits until its log says `text` (n-th time), bounded. */
  async waitLog(text: string, ms: number, n = 1): Promise<void> {
    const end = Date.now() + ms;
    while (this.log.split(text).length - 1 < n) {
      if (Date.now() > end) throw new Error(`keepalived did not log '${text}' within ${ms} ms:\n${this.log}`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill("SIGTERM");
    await Promise.race([done, sleep(5000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

/** Whether `host`'s eth0 holds the VIP (or `addr`) now. */
export function hasVip(v: VrrpLab, host: string, addr = VIP): boolean {
  const out = JSON.parse(v.lab.exec(host, ["ip", "-j", "addr", "show", "dev", "eth0"])) as {
    addr_info: { local: string; label?: string }[];
  }[];
  return out[0]!.addr_info.some((a) => a.local === addr);
}

/** Polls until `host` holds (or lacks) the VIP (or `addr`); resolves with the ms it took; throws after `ms`. */
export async function waitVip(
  v: VrrpLab,
  host: string,
  want: boolean,
  ms: number,
  addr = VIP,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (hasVip(v, host, addr) === want) return Date.now() - start;
    if (Date.now() - start > ms)
      throw new Error(`${host} ${want ? "did not take" : "did not give up"} ${addr} within ${ms} ms`);
    await sleep(20);
  }
}

/** `tslvs status --json` of a director. */
export function status(d: DirectorProcess): InfoEntry {
  const r = spawnSync("node", [TSLVS_BIN, "status", "--json", "--socket", d.socket], {
    encoding: "utf8",
    timeout: 10000,
  });
  if (r.status !== 0) throw new Error(`tslvs status: ${r.stderr}`);
  return JSON.parse(r.stdout) as InfoEntry;
}

export function vrrpState(d: DirectorProcess): string {
  return status(d).vrrp?.instances[0]?.state ?? "none";
}

/** SIGKILL, as a crash: nothing of the daemon's own cleanup runs. */
export async function kill(d: DirectorProcess): Promise<void> {
  const done = new Promise<void>((r) => d.child.once("exit", () => r()));
  d.child.kill("SIGKILL");
  await done;
}

/** The epoch ms of the director's last log line saying it entered `state`, or null. */
export function enteredAt(d: DirectorProcess, state: string): number | null {
  const lines = d.log
    .split("\n")
    .filter((l) => l.includes(`Entering ${state} STATE`))
    .map((l) => (JSON.parse(l) as { time: number }).time);
  return lines.at(-1) ?? null;
}
