/**
 * Shared steps of the forwarding-method network tests: a director daemon inside its namespace, the
 * real servers' HTTP/UDP service, the real-server helper, tslvsadm against the director's socket,
 * and client requests — all on a NetLab whose namespaces the test owns.
 */
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetLab } from "../../src/cli/lab/netns.js";
import { RS_SERVER_JS, TSLVS_BIN, TSLVSADM_BIN } from "../../src/cli/lab/paths.js";

const GIVE_UP_MS = 20000;

/** A process's output, collected, with a wait for a line matching a pattern. */
export class Output {
  text = "";
  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (d: Buffer) => (this.text += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.text += d.toString()));
  }

  async waitFor(pattern: RegExp, what: string): Promise<void> {
    const start = Date.now();
    while (!pattern.test(this.text)) {
      if (this.child.exitCode !== null) throw new Error(`${what} exited early:\n${this.text}`);
      if (Date.now() - start > GIVE_UP_MS) throw new Error(`${what} did not get ready:\n${this.text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends a signal (SIGTERM by default) and waits for the exit (bounded); returns the output. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<string> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const done = new Promise((r) => this.child.once("exit", r));
      this.child.kill(signal);
      await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
    }
    return this.text;
  }
}

export class LabDirector {
  readonly dir = mkdtempSync(join(tmpdir(), "tslvs-test-"));
  readonly socket = join(this.dir, "tslvs.sock");
  out!: Output;

  async start(lab: NetLab, host: string, interfaces: string[], extra: string[] = []): Promise<void> {
    const args = [
      "node",
      TSLVS_BIN,
      "start",
      "--socket",
      this.socket,
      "--state",
      join(this.dir, "state.yaml"),
      ...extra,
    ];
    for (const i of interfaces) args.push("--interface", i);
    this.out = new Output(lab.spawn(host, args, { stdio: ["ignore", "pipe", "pipe"] }));
    const start = Date.now();
    for (;;) {
      if (this.out.child.exitCode !== null) throw new Error(`the director exited early:\n${this.out.text}`);
      if (existsSync(this.socket)) {
        try {
          this.adm("-ln");
          return;
        } catch {
          /* not ready */
        }
      }
      if (Date.now() - start > GIVE_UP_MS) throw new Error(`the director did not come up:\n${this.out.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  adm(...args: string[]): string {
    return execFileSync("node", [TSLVSADM_BIN, ...args], {
      encoding: "utf8",
      env: { ...process.env, TSLVS_SOCKET: this.socket },
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** Stops the daemon; returns its engine counters from the stop log line. */
  async stop(): Promise<Record<string, number>> {
    const text = this.out ? await this.out.stop() : "";
    rmSync(this.dir, { recursive: true, force: true });
    for (const line of text.split("\n")) {
      try {
        const j = JSON.parse(line) as { counters?: Record<string, number> };
        if (j.counters) return j.counters;
      } catch {
        /* not JSON */
      }
    }
    return {};
  }
}

/** The real servers' service (rs-server.js) on port 80, TCP and UDP. */
export async function startRealServer(lab: NetLab, host: string, name: string): Promise<void> {
  const out = new Output(lab.spawn(host, ["node", RS_SERVER_JS, "--name", name, "--port", "80"]));
  await out.waitFor(/^ready /m, `${name}'s server`);
}

/** `tslvs rs` in a host; resolves when it is ready. Stopped by the lab's destroy (SIGTERM). */
export async function startRsHelper(lab: NetLab, host: string, args: string[]): Promise<Output> {
  const out = new Output(lab.spawn(host, ["node", TSLVS_BIN, "rs", ...args]));
  await out.waitFor(/^tslvs rs: ready/m, `tslvs rs in ${host}`);
  return out;
}

export interface HttpReply {
  server: string;
  seenClient: string;
  body: string;
}

/** One HTTP GET from a host with curl; null when it failed. */
export function httpGet(lab: NetLab, host: string, url: string, extra: string[] = []): HttpReply | null {
  try {
    const out = lab.exec(host, ["curl", "-s", "-m", "5", "-D", "-", ...extra, url]);
    const header = (n: string) => new RegExp(`^${n}: (.*)$`, "mi").exec(out)?.[1]?.trim() ?? "?";
    const body = out.split("\r\n\r\n").slice(1).join("\r\n\r\n");
    return { server: header("x-server"), seenClient: header("x-seen-client"), body };
  } catch {
    return null;
  }
}

/** GET with retries: the first packets to a new next hop may be dropped while it resolves. */
export async function httpGetRetry(lab: NetLab, host: string, url: string, tries = 5): Promise<HttpReply> {
  for (let i = 0; i < tries; i++) {
    const r = httpGet(lab, host, url);
    if (r) return r;
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`no answer to ${url} from ${host} after ${tries} tries`);
}

/** A UDP exchange through the real servers' echo (IPv4 or IPv6): sends `payload`, returns the reply bytes. */
export function udpAsk(lab: NetLab, host: string, addr: string, port: number, payload: Buffer): Buffer {
  const script = `
    const s = require("node:dgram").createSocket("${addr.includes(":") ? "udp6" : "udp4"}");
    const msg = Buffer.from(process.argv[1], "hex");
    let tries = 0;
    const send = () => { if (tries++ > 10) process.exit(2); s.send(msg, ${port}, "${addr}"); };
    s.on("message", (m) => { process.stdout.write(m.toString("hex")); process.exit(0); });
    s.bind(0, () => { send(); setInterval(send, 300); });`;
  const hex = lab.exec(host, ["node", "-e", script, payload.toString("hex")]);
  return Buffer.from(hex, "hex");
}

/** POSTs `data` to the real servers' /sha256 from a host; returns the hex digest they computed. */
export function postSha256(
  lab: NetLab,
  host: string,
  url: string,
  data: Buffer,
  extra: string[] = [],
): string {
  const dir = mkdtempSync(join(tmpdir(), "tslvs-body-"));
  try {
    const file = join(dir, "body");
    writeFileSync(file, data);
    return lab
      .exec(host, [
        "curl",
        "-s",
        "-m",
        "30",
        ...extra,
        "--data-binary",
        `@${file}`,
        "-H",
        "content-type: application/octet-stream",
        url,
      ])
      .trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** tcpdump on a host's interface, started and ready; stop() ends it and returns what it printed. */
export async function startCapture(
  lab: NetLab,
  host: string,
  ifname: string,
  filter: string[],
  extra: string[] = ["-v"],
): Promise<Output> {
  const out = new Output(lab.spawn(host, ["tcpdump", "-l", "-nn", "-i", ifname, ...extra, ...filter]));
  await out.waitFor(/listening on/, `tcpdump on ${host} ${ifname}`);
  return out;
}

/**
 * `n` UDP flows at once, each from its own socket (so each is a new connection for the director):
 * one datagram each, retried a few times; returns the replies' texts ("" for a flow not answered).
 */
export function udpFlows(lab: NetLab, host: string, addr: string, port: number, n: number): string[] {
  const script = `
    const dgram = require("node:dgram");
    const out = new Array(${n}).fill("");
    let pending = ${n};
    const socks = [];
    const done = () => { for (const s of socks) s.close(); process.stdout.write(JSON.stringify(out)); };
    for (let i = 0; i < ${n}; i++) {
      const s = dgram.createSocket("udp4");
      socks.push(s);
      let tries = 0;
      const send = () => s.send(Buffer.from("flow " + i), ${port}, "${addr}");
      const timer = setInterval(() => { if (++tries >= 4) { clearInterval(timer); if (--pending === 0) done(); } else send(); }, 400);
      s.on("message", (m) => { if (out[i] === "") { out[i] = m.toString(); clearInterval(timer); if (--pending === 0) done(); } });
      s.bind(0, send);
    }`;
  return JSON.parse(lab.exec(host, ["node", "-e", script])) as string[];
}
