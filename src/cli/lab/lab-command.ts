import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, rmSync } from "node:fs";
import { isRoot, NetLab } from "./netns.js";
import { HTTP_GET_JS, RS_SERVER_JS, TSLVS_BIN, TSLVSADM_BIN } from "./paths.js";
import { buildDrLab, buildFullnatLab, buildNatLab, buildTunLab } from "./topologies.js";

/**
 * `tslvs lab nat|dr|tun|fullnat [--keep]`: builds a classic LVS lab in network namespaces, starts real HTTP
 * servers and the director, types the guide's tslvsadm commands, sends ten requests and shows who
 * answered and what each real server saw. Everything is removed afterwards (also on Ctrl-C and on
 * failure) unless --keep; `tslvs lab clean` removes a kept lab.
 */

const LAB_PREFIX = "tslvs-lab";

interface Reply {
  server: string;
  seenClient: string;
  /** Body bytes the client received. */
  bytes: number;
}

export async function labCommand(args: string[]): Promise<number> {
  const kind = args[0];
  const keep = args.includes("--keep");
  if (kind === "clean") return cleanLabs();
  if (kind !== "nat" && kind !== "dr" && kind !== "tun" && kind !== "fullnat") {
    process.stderr.write("usage: tslvs lab nat|dr|tun|fullnat [--keep] | tslvs lab clean\n");
    return 2;
  }
  if (!isRoot()) {
    process.stderr.write("tslvs lab: needs root (it builds network namespaces)\n");
    return 2;
  }
  const lacking = (LAB_COMMANDS[kind] ?? []).filter((c) => !commandOnPath(c.command));
  if (lacking.length > 0) {
    process.stderr.write(
      `tslvs lab ${kind}: needs ${lacking.map((c) => c.command).join(", ")} to show what crosses the links (apt-get install --no-install-recommends ${lacking.map((c) => c.pkg).join(" ")})\n`,
    );
    return 2;
  }
  const prefix = `${LAB_PREFIX}-${kind}`;
  if (listNamespaces().some((n) => n.startsWith(`${prefix}-`))) {
    process.stderr.write(`tslvs lab: a ${kind} lab is already up; remove it with 'tslvs lab clean'\n`);
    return 2;
  }
  const lab = new NetLab(prefix);
  const runDir = `/run/${prefix}`;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    void lab.destroy().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    const run = { nat: runNat, dr: runDr, tun: runTun, fullnat: runFullnat }[kind];
    const ok = await run(lab, runDir);
    if (keep) {
      printKeep(lab, kind, runDir);
      return ok ? 0 : 1;
    }
    return ok ? 0 : 1;
  } catch (e) {
    process.stderr.write(`tslvs lab ${kind}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (!keep && !interrupted) {
      await lab.destroy();
      rmSync(runDir, { recursive: true, force: true });
    }
  }
}

/** What a lab runs beyond Node.js and iproute2 (the tun and fullnat labs show captured frames). */
const LAB_COMMANDS: Record<string, { command: string; pkg: string }[]> = {
  tun: [{ command: "tcpdump", pkg: "tcpdump" }],
  fullnat: [{ command: "tcpdump", pkg: "tcpdump" }],
};

function commandOnPath(command: string): boolean {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  return dirs.some((d) => {
    try {
      accessSync(`${d}/${command}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function say(line = ""): void {
  process.stdout.write(`${line}\n`);
}

function listNamespaces(): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);
}

function cleanLabs(): number {
  for (const n of listNamespaces().filter((x) => x.startsWith(`${LAB_PREFIX}-`))) {
    try {
      for (const pid of execFileSync("ip", ["netns", "pids", n], { encoding: "utf8" })
        .split(/\s+/)
        .filter(Boolean)) {
        process.kill(Number(pid), "SIGTERM");
      }
    } catch {
      /* gone */
    }
    execFileSync("ip", ["netns", "del", n]);
    say(`removed namespace ${n}`);
  }
  for (const k of ["nat", "dr", "tun", "fullnat"])
    rmSync(`/run/${LAB_PREFIX}-${k}`, { recursive: true, force: true });
  return 0;
}

function printKeep(lab: NetLab, kind: string, runDir: string): void {
  say();
  say(`The ${kind} lab stays up. Enter a host with:`);
  for (const h of ["client", "router", "director", "rs2", "rs3", "rs1"]) {
    if (listNamespaces().includes(lab.ns(h))) say(`  ip netns exec ${lab.ns(h)} bash`);
  }
  say(`tslvsadm talks to this lab's director with: TSLVS_SOCKET=${runDir}/tslvs.sock tslvsadm -ln`);
  say("Remove it with: tslvs lab clean");
}

/** Start the director daemon inside its namespace and wait until it answers. */
async function startDirector(lab: NetLab, host: string, runDir: string, ifaces: string[]): Promise<void> {
  const args = [
    "node",
    TSLVS_BIN,
    "start",
    "--socket",
    `${runDir}/tslvs.sock`,
    "--state",
    `${runDir}/state.yaml`,
  ];
  for (const i of ifaces) args.push("--interface", i);
  const child = lab.spawn(host, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`the director exited early:\n${log}`);
    if (existsSync(`${runDir}/tslvs.sock`)) {
      try {
        adm(runDir, ["-ln"]);
        return;
      } catch {
        /* not ready yet */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the director did not come up:\n${log}`);
}

function adm(runDir: string, args: string[]): string {
  return execFileSync("node", [TSLVSADM_BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, TSLVS_SOCKET: `${runDir}/tslvs.sock` },
  });
}

/** Type a tslvsadm command at the director's prompt and show its output. */
function typed(runDir: string, args: string[]): string {
  say(`director# tslvsadm ${args.join(" ")}`);
  const out = adm(runDir, args);
  if (out) process.stdout.write(out);
  return out;
}

async function startServers(lab: NetLab, servers: { host: string; name: string }[]): Promise<void> {
  await Promise.all(
    servers.map(
      (rs) =>
        new Promise<void>((resolve, reject) => {
          const p = lab.spawn(rs.host, ["node", RS_SERVER_JS, "--name", rs.name, "--port", "80"]);
          const t = setTimeout(() => reject(new Error(`${rs.name}'s web server did not start`)), 5000);
          p.stdout?.once("data", () => {
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
}

/** One HTTP GET from the client's namespace (Node's http client, src/cli/lab/http-get.ts). */
function request(lab: NetLab, client: string, url: string): Reply | null {
  try {
    return JSON.parse(lab.exec(client, ["node", HTTP_GET_JS, url, "3000"])) as Reply;
  } catch {
    return null;
  }
}

function sendTen(lab: NetLab, client: string, vip: string, path = "/"): (Reply | null)[] {
  say();
  say(`client# for i in $(seq 10); do curl http://${vip}${path}; done   # made by Node.js http here`);
  const replies: (Reply | null)[] = [];
  for (let i = 1; i <= 10; i++) {
    const r = request(lab, client, `http://${vip}${path}`);
    replies.push(r);
    say(
      r
        ? `  request ${String(i).padStart(2)}: answered by ${r.server}, which saw the client as ${r.seenClient}`
        : `  request ${String(i).padStart(2)}: no answer`,
    );
  }
  say();
  return replies;
}

async function runNat(lab: NetLab, runDir: string): Promise<boolean> {
  say("tslvs lab nat: the classic LVS-NAT lab, in network namespaces on this machine");
  say(
    "(the guide's client-side and private real-server networks stand here as 198.18.0.0/16 and 198.19.0.0/16: VIP 198.18.0.10, real servers 198.19.10.20 and .30)",
  );
  const t = buildNatLab(lab);
  say();
  say(`  client ${t.cip}`);
  say(`     |`);
  say(`  director  ${t.outsideIf} ${t.vip} (VIP)   ${t.insideIf} ${t.dip} (DIP, the real servers' gateway)`);
  say(`     |`);
  say(`  switch ── ${t.servers.map((s) => `${s.name} ${s.rip}:80`).join(" ── ")}`);
  say();
  await startServers(lab, t.servers);
  await startDirector(lab, t.director, runDir, [t.outsideIf, t.insideIf]);
  typed(runDir, ["-A", "-t", `${t.vip}:80`, "-s", "wrr"]);
  for (const rs of t.servers)
    typed(runDir, ["-a", "-t", `${t.vip}:80`, "-r", `${rs.rip}:80`, "-m", "-w", "1"]);
  typed(runDir, ["-ln"]);
  const replies = sendTen(lab, t.client, t.vip);
  await new Promise((r) => setTimeout(r, 300));
  typed(runDir, ["-ln"]);
  const answered = replies.filter((r): r is Reply => r !== null);
  const alternating =
    answered.length >= 2 && answered.every((r, i) => i === 0 || r.server !== answered[i - 1]!.server);
  const sawClient = answered.length > 0 && answered.every((r) => r.seenClient === t.cip);
  say();
  say(
    summaryOfAnswers(
      answered,
      alternating
        ? "they alternated, as wrr does with equal weights"
        : answered.length >= 2
          ? "they did NOT alternate"
          : undefined,
    ),
  );
  if (answered.length > 0)
    say(
      sawClient
        ? `Every real server saw the client's own address ${t.cip} (NAT keeps it).`
        : `The real servers saw ${countBy(answered, (r) => r.seenClient)}, not only the client's ${t.cip}.`,
    );
  return answered.length === 10 && alternating && sawClient;
}

/** Each DR request fetches this many bytes, so the answers outweigh everything the director sends. */
const DR_BODY = 20000;

async function runDr(lab: NetLab, runDir: string): Promise<boolean> {
  say("tslvs lab dr: one segment, the VIP on the real servers' loopback (LVS-DR), in network namespaces");
  const t = buildDrLab(lab);
  say();
  say(
    `  switch ── client ${t.cip} ── director ${t.dip} + VIP ${t.vip} ── ${t.servers.map((s) => `${s.name} ${s.rip} (VIP on lo)`).join(" ── ")}`,
  );
  say();
  await startServers(lab, t.servers);
  await startDirector(lab, t.director, runDir, [t.lanIf]);
  typed(runDir, ["-A", "-t", `${t.vip}:80`, "-s", "wrr"]);
  typed(runDir, ["-a", "-t", `${t.vip}:80`, "-r", `${t.servers[0]!.rip}:80`, "-g", "-w", "2"]);
  typed(runDir, ["-a", "-t", `${t.vip}:80`, "-r", `${t.servers[1]!.rip}:80`, "-g", "-w", "1"]);
  typed(runDir, ["-ln"]);
  const before = linkBytes(lab, t.director, t.lanIf);
  const replies = sendTen(lab, t.client, t.vip, `/bytes/${DR_BODY}`);
  const after = linkBytes(lab, t.director, t.lanIf);
  typed(runDir, ["-ln", "--stats"]);
  const answered = replies.filter((r): r is Reply => r !== null);
  say();
  say(summaryOfAnswers(answered, "the weights are 2:1"));
  const received = answered.reduce((n, r) => n + r.bytes, 0);
  const sent = after.tx - before.tx;
  if (answered.length > 0) {
    say(
      `The client received ${received} bytes of answers; the director's link sent ${sent} bytes in all during the requests (the requests it passed on included):`,
    );
    say(
      sent < received
        ? "the answers cannot have crossed the director: they went from the real servers straight to the client."
        : "not fewer than the answers, so this run cannot tell whether they bypassed the director.",
    );
  }
  return answered.length === 10 && sent < received;
}

function linkBytes(lab: NetLab, host: string, ifname: string): { rx: number; tx: number } {
  const j = JSON.parse(lab.exec(host, ["ip", "-j", "-s", "link", "show", ifname])) as {
    stats64: { rx: { bytes: number }; tx: { bytes: number } };
  }[];
  return { rx: j[0]!.stats64.rx.bytes, tx: j[0]!.stats64.tx.bytes };
}

/** A running tcpdump in a lab host; stop() ends it and returns the packet lines it printed. */
interface Capture {
  stop(): Promise<string[]>;
}

async function capture(lab: NetLab, host: string, ifname: string, filter: string[]): Promise<Capture> {
  const p = lab.spawn(host, ["tcpdump", "-l", "-nn", "-i", ifname, ...filter], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  p.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 50 && !/listening on/.test(err); i++) {
    if (p.exitCode !== null) throw new Error(`tcpdump failed: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    stop: async () => {
      await new Promise((r) => setTimeout(r, 200));
      const done = new Promise((r) => p.once("exit", r));
      p.kill("SIGINT");
      await done;
      return out.split("\n").filter((l) => l.trim() !== "");
    },
  };
}

/** `tslvs rs` in a lab host, waited for until it says it is ready. */
async function startRsHelper(lab: NetLab, host: string, args: string[]): Promise<void> {
  const p = lab.spawn(host, ["node", TSLVS_BIN, "rs", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 100; i++) {
    if (/^tslvs rs: ready/m.test(out)) return;
    if (p.exitCode !== null) throw new Error(`tslvs rs in ${host} failed:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`tslvs rs in ${host} did not get ready:\n${out}`);
}

/** "N of 10 requests answered: RS1 5, RS2 5; <how>." — or that none was. */
function summaryOfAnswers(answered: Reply[], how?: string): string {
  if (answered.length === 0)
    return "None of the 10 requests was answered: the director forwarded nothing (see the listing above).";
  return `${answered.length} of 10 requests answered: ${countBy(answered, (r) => r.server)}${how ? `; ${how}` : ""}.`;
}

function countBy(replies: (Reply | null)[], key: (r: Reply) => string): string {
  const counts = new Map<string, number>();
  for (const r of replies) if (r) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(", ");
}

async function runTun(lab: NetLab, runDir: string): Promise<boolean> {
  say("tslvs lab tun: LVS-TUN, the real servers on another network behind a router, in network namespaces");
  const t = buildTunLab(lab);
  say();
  say(`  client ${t.cip} ── router ── director ${t.dip} + VIP ${t.vip}`);
  say(`                      └── switch ── ${t.servers.map((s) => `${s.name} ${s.rip}`).join(" ── ")}`);
  say();
  say("This kernel has no ipip module, so each real server runs tslvs's tunnel end (XDP):");
  await startServers(lab, t.servers);
  for (const rs of t.servers) {
    say(`${rs.host}# tslvs rs --mode tun --vip ${t.vip}`);
    await startRsHelper(lab, rs.host, ["--mode", "tun", "--vip", t.vip]);
  }
  say(
    "(the VIP on lo with ARP for it suppressed, IPIP taken from the kernel by XDP and handed to a TUN device)",
  );
  say();
  await startDirector(lab, t.director, runDir, [t.directorIf]);
  typed(runDir, ["-A", "-t", `${t.vip}:80`, "-s", "wrr"]);
  for (const rs of t.servers)
    typed(runDir, ["-a", "-t", `${t.vip}:80`, "-r", `${rs.rip}:80`, "-i", "-w", "1"]);
  typed(runDir, ["-ln"]);
  // Warm up the director's next hop toward the router (its first packet waits for ARP).
  request(lab, t.client, `http://${t.vip}/`);
  const rsLink = await capture(lab, t.router, t.rsLinkIf, ["ip", "proto", "4"]);
  const dirLink = await capture(lab, t.router, "eth1", ["src", "host", t.vip]);
  const replies = sendTen(lab, t.client, t.vip);
  const ipip = await rsLink.stop();
  const fromVipOnDirectorLink = await dirLink.stop();
  typed(runDir, ["-ln", "--stats"]);
  const answered = replies.filter((r): r is Reply => r !== null);
  const sawClient = answered.length > 0 && answered.every((r) => r.seenClient === t.cip);
  say();
  say(summaryOfAnswers(answered));
  if (answered.length > 0)
    say(
      sawClient
        ? `Every real server saw the client's own address ${t.cip}: the client's packet travels unchanged inside the tunnel.`
        : `The real servers saw ${countBy(answered, (r) => r.seenClient)}, not only the client's ${t.cip}.`,
    );
  say();
  say(
    `On the real servers' network the router carried ${ipip.length} IPIP frames from the director${ipip.length > 0 ? "; the first three:" : "."}`,
  );
  for (const l of ipip.slice(0, 3)) say(`  ${l}`);
  say(
    `Frames from the VIP on the director's link: ${fromVipOnDirectorLink.length}${
      answered.length > 0 && fromVipOnDirectorLink.length === 0
        ? " — the answers went from the real servers through the router straight to the client."
        : "."
    }`,
  );
  return answered.length === 10 && sawClient && ipip.length > 0 && fromVipOnDirectorLink.length === 0;
}

async function runFullnat(lab: NetLab, runDir: string): Promise<boolean> {
  say("tslvs lab fullnat: FULLNAT (DPVS's fourth method), in network namespaces");
  const t = buildFullnatLab(lab);
  say();
  say(`  client ${t.cip} ── director ${t.vip} (VIP) | ${t.dip} (its own address toward the real servers)`);
  say(`                         └── switch ── ${t.servers.map((s) => `${s.name} ${s.rip}`).join(" ── ")}`);
  say("  (the real servers have no route to the client at all: no default route)");
  say();
  await startServers(lab, t.servers);
  await startDirector(lab, t.director, runDir, [t.outsideIf, t.insideIf]);
  typed(runDir, ["-A", "-t", `${t.vip}:80`, "-s", "rr"]);
  for (const rs of t.servers) typed(runDir, ["-a", "-t", `${t.vip}:80`, "-r", `${rs.rip}:80`, "-b"]);
  typed(runDir, ["-ln"]);
  request(lab, t.client, `http://${t.vip}/`);
  const rsLink = await capture(lab, "switch", "br0", ["tcp", "port", "80"]);
  const first = sendTen(lab, t.client, t.vip);
  const lines = await rsLink.stop();
  const toRs = lines.filter((l) => new RegExp(` ${t.dip.replaceAll(".", "\\.")}\\.\\d+ > `).test(l)).length;
  const fromRs = lines.filter((l) => new RegExp(` > ${t.dip.replaceAll(".", "\\.")}\\.\\d+:`).test(l)).length;
  const mentionsClient = lines.filter((l) => l.includes(t.cip)).length;
  const firstAnswered = first.filter((r): r is Reply => r !== null);
  say(
    summaryOfAnswers(
      firstAnswered,
      firstAnswered.length > 0
        ? `the real servers saw ${countBy(firstAnswered, (r) => r.seenClient)}`
        : undefined,
    ),
  );
  say(
    `On the real servers' link: ${toRs} packets from ${t.dip} to the real servers, ${fromRs} back to it, ${mentionsClient} mentioning the client${
      toRs > 0 && fromRs > 0 && mentionsClient === 0 ? " — both directions cross the director." : "."
    }`,
  );
  say();
  say("Now a local-address pool of two LIPs (DPVS's -P), and TOA to carry the client's address:");
  for (const lip of t.poolLips) typed(runDir, ["-P", "-t", `${t.vip}:80`, "-z", lip, "-F", t.insideIf]);
  typed(runDir, ["-G", "-t", `${t.vip}:80`]);
  typed(runDir, ["-E", "-t", `${t.vip}:80`, "-s", "rr", "--toa"]);
  const toaCapture = await capture(lab, "switch", "br0", ["-v", "tcp", "port", "80"]);
  const second = sendTen(lab, t.client, t.vip);
  const toaLines = (await toaCapture.stop()).filter((l) => /exp-/.test(l));
  const secondAnswered = second.filter((r): r is Reply => r !== null);
  const lipsSeen = new Set(secondAnswered.map((r) => r.seenClient));
  say(summaryOfAnswers(secondAnswered));
  if (secondAnswered.length > 0)
    say(
      `The real servers saw ${countBy(secondAnswered, (r) => r.seenClient)}${t.poolLips.every((l) => lipsSeen.has(l)) ? " (the pool's LIPs in turn)" : ""}.`,
    );
  say(
    `${toaLines.length} packets carried the TOA option (kind 254: client port and ${t.cip}) to the real servers${toaLines[0] ? "; a real server with the toa module would log the client. The first:" : "."}`,
  );
  if (toaLines[0]) say(`  ${toaLines[0].trim()}`);
  return (
    first.every((r) => r?.seenClient === t.dip) &&
    second.every((r) => r !== null) &&
    t.poolLips.every((l) => lipsSeen.has(l)) &&
    toRs > 0 &&
    fromRs > 0 &&
    mentionsClient === 0 &&
    toaLines.length >= 10
  );
}
