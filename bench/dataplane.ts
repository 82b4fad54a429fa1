/**
 * The data plane against the kernel (issue "Benchmark"): tslvs NAT against nftables DNAT, tslvs DR
 * against plain IPv4 forwarding, same generator, namespaces and pinning, interleaved in one run.
 *
 * Layout (one topology for every scenario, rebuilt for every search):
 *
 *   client eth0 198.18.0.100 --- eth0 198.18.0.1  director  eth1 198.19.0.1 --- eth0 198.19.0.2  rs
 *   client eth1 198.19.200.1 ------------------- (direct link) ------------------ eth1 198.19.200.2
 *
 * The VIP 198.18.1.10 is routed to the director (the client's default route) and held on the real
 * server's loopback (DR's real-server script), never on the director. The RS's default route is the
 * director; in the DR, TUN and kernel-forwarding scenarios its replies to the client take the direct
 * link instead, as a DR/TUN real server answers by its own gateway (NAT and FULLNAT replies must
 * return through the director). The generator (bench/xdp-flood.ts: an XDP program the kernel runs
 * in live-frames mode, the same 60-byte frames with full checksums, open loop, 256 fixed source
 * ports, paced on the kernel's clock; or bench/raw-flood.c over AF_PACKET, or bench/udp-flood.c
 * over UDP sockets) runs on CPU 0. With the xdp generator the frames reach the director's eth0 as
 * a NIC's ring hands them to its driver and its NAPI kthread, pinned to CPU 1 at SCHED_FIFO,
 * receives them there (decision 0900); with the others RPS queues them to CPU 1. The tslvs daemon
 * is pinned to CPU 1 too. Client and RS send full
 * checksums (`ethtool -K tx off`), as hosts behind a NIC do, so tslvs's XDP fast path can take
 * their frames. docs/decisions/0600-dataplane-benchmark.md says why it measures this way.
 *
 *   tslvs-nat          tslvs daemon (--tslvs-mode: tc or generic XDP), `-A -u VIP:9 -s rr` + `-a ... -r RIP:9 -m` (and TCP :80)
 *   nft-dnat           nftables DNAT VIP:9 -> RIP:9 in prerouting (the kernel's NAT path)
 *   tslvs-dr           tslvs daemon, `-a ... -g`
 *   kernel-fwd         IPv4 forwarding: `ip route VIP/32 via RIP` on the director
 *   kernel-fwd-xdp     the same under a generic XDP program that passes everything (bench/xdp-pass.ts):
 *                      what generic XDP alone costs the kernel's path, for the CPU-per-packet comparison
 *   tcx-dr-fixed       a fixed DR rewrite + redirect at TC ingress (bench/tcx-dr.ts), no XDP: what the
 *                      hook costs without XDP's copy (a forwarder, not a director)
 *   tslvs-tun          tslvs daemon, `-a ... -i`; the flood's IPIP frames are counted on the
 *                      RS's eth0 and dropped at its netdev ingress; `tslvs rs --mode tun` unwraps
 *                      the TCP test's packets (started for the TCP test only, beside the generator)
 *   tslvs-fullnat      tslvs daemon, `-a ... --fullnat` (the RS answers the director)
 *   tslvs-*-native     native XDP (NAT, DR, TUN, FULLNAT), threaded NAPI of the director's eth0
 *                      pinned to CPU 1
 *
 * Per search: no-drop rate (highest delivered rate of a step with < 0.5 % loss: one flat-out step,
 * then bisection between 0 and the generator's flat-out rate), then the delivered rate at twice the
 * no-drop step's offered rate (capped by the generator). The generator CPU's softirq share is read
 * from /proc/stat. Then TCP: new connections per second (tcp-crr, 32 concurrent connect / GET / close
 * loops) and request latency with one loop, through the director and directly to the RS.
 *
 * Run (root): npx tsc -p tsconfig.json && node dist/bench/dataplane.js [options]; --help lists them.
 */
import { type ChildProcess, execFile, execFileSync } from "node:child_process";
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { NetLab } from "../src/cli/lab/netns.js";
import { TSLVS_BIN, TSLVSADM_BIN } from "../src/cli/lab/paths.js";
import { ConnTable } from "../src/core/conn-table.js";

const execFileAsync = promisify(execFile);

const SCENARIOS = [
  "tslvs-nat",
  "nft-dnat",
  "tslvs-dr",
  "kernel-fwd",
  "kernel-fwd-xdp",
  "tcx-dr-fixed",
  "tslvs-tun",
  "tslvs-fullnat",
  "tslvs-nat-native",
  "tslvs-dr-native",
  "tslvs-tun-native",
  "tslvs-fullnat-native",
] as const;
type Scenario = (typeof SCENARIOS)[number];
const DEFAULT_SCENARIOS: Scenario[] = [
  "tslvs-nat-native",
  "nft-dnat",
  "tslvs-dr-native",
  "kernel-fwd",
  "tslvs-nat",
  "tslvs-dr",
];

function isTslvs(s: Scenario): boolean {
  return s.startsWith("tslvs");
}

/**
 * DR and TUN real servers answer the client by their own route, never through the director (here
 * the direct link); so does the RS behind kernel forwarding, DR's peer, so that both directors
 * carry the same one direction. NAT and FULLNAT replies must come back through the director.
 */
function repliesBypassDirector(s: Scenario): boolean {
  return (
    s === "tslvs-dr" ||
    s === "tslvs-dr-native" ||
    s.startsWith("tslvs-tun") ||
    s === "tcx-dr-fixed" ||
    s.startsWith("kernel-fwd")
  );
}

interface Options {
  searches: number;
  steps: number;
  stepSeconds: number;
  scenarios: Scenario[];
  flows: number;
  tcpSeconds: number;
  concurrency: number;
  generator: "raw" | "socket" | "xdp";
  /** The guest's halt-polling window (ns) for the run, restored after; null: left as it is. */
  haltPollNs: number | null;
  /** Scheduling class of the director's threaded NAPI kthread. */
  napiSched: "fifo" | "other";
  lossLimit: number;
  /** Instead of searching, run every step at this rate (pps): loss at one load, for diagnosis. */
  fixedRate: number;
  /** CPU the tslvs daemon is pinned to (1 in the fair layout; 0 only to diagnose). */
  daemonCpu: number;
  /** Append the daemons' logs (info level: the engine's and fast path's counters at stop) here. */
  daemonLog: string | null;
  /** Offered rate (pps) of the CPU-cost measurement; 0 skips it. */
  costRate: number;
  costSeconds: number;
  /** Where the tslvs scenarios (but the -native ones) attach: `--xdp-mode` of the daemon. */
  tslvsMode: "tc" | "generic";
  /** Tries of a search step before it counts as failed (1: no retry). */
  stepTries: number;
}

const HELP = `usage: node dist/bench/dataplane.js [options]   (as root)
  --searches N        searches per scenario, interleaved (default 5)
  --steps N           steps per no-drop search: 1 flat-out + N-1 bisection (default 6)
  --step-seconds S    length of every traffic step (default 2)
  --scenarios LIST    comma-separated list from ${SCENARIOS.join(",")}
                      (default ${DEFAULT_SCENARIOS.join(",")}); the -native ones attach native XDP
                      with threaded NAPI pinned to CPU 1 and GRO on the RS link
  --flows N           UDP source ports (default 256)
  --tcp-seconds S     length of the TCP connection-rate and latency runs; 0 skips them (default 2)
  --concurrency N     concurrent connect/close loops for the connection rate (default 32)
  --generator G       xdp (default: an XDP program run by the kernel in live-frames mode,
                      bench/xdp-flood.ts; the frames reach the director's eth0 as a NIC's ring
                      hands them to its driver, received by its NAPI, threaded and pinned to
                      CPU 1, no RPS; the RS's eth0 gets GRO on, so NAPI too; decision 0900),
                      raw (prebuilt frames over AF_PACKET, bench/raw-flood.c, queued to CPU 1
                      by RPS: the earlier runs) or socket (UDP sockets, bench/udp-flood.c)
  --halt-poll-ns N    the guest's cpuidle halt polling (haltpoll.guest_halt_poll_ns) during the
                      run, restored at its end: an idle vCPU polls N ns before it halts and waits
                      for the host to run it again (default 200000, the kernel's default; this VM
                      boots with 0); "keep" leaves it. See decision 0900
  --napi-sched S      fifo (default) or other: the scheduling class of the director's threaded
                      NAPI kthread (xdp generator, -native scenarios). A NIC's receive runs in
                      softirq, ahead of every task on its CPU: SCHED_FIFO keeps it so; with
                      SCHED_OTHER it waits its turn behind the tslvs daemon on CPU 1
  --fixed-rate PPS    no search: --steps steps at this rate, and the loss of each (diagnosis)
  --daemon-cpu N      pin the tslvs daemon to CPU N (default 1, the director's CPU; 0 puts it
                      beside the generator: unfair, for diagnosis only)
  --daemon-log FILE   append the tslvs daemons' logs (info level, counters at stop) to FILE
  --cost-rate PPS     offered rate of the director-CPU-per-packet measurement, below every
                      scenario's no-drop rate (default 300000; 0 skips it)
  --cost-seconds S    length of its idle and loaded windows (default 3)
  --tslvs-mode M      tc (default: steering and fast path at TC ingress, the daemon's
                      --xdp-mode tc) or generic (generic XDP) for the tslvs scenarios but the
                      -native ones
  --step-tries N      a search step that loses >= 0.5 % is run again, up to N tries in all,
                      and passes if one try does (default 1: no retry); the same for every
                      scenario, it keeps a VM's momentary stall from deciding a search
`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    searches: 5,
    steps: 6,
    stepSeconds: 2,
    scenarios: [...DEFAULT_SCENARIOS],
    flows: 256,
    tcpSeconds: 2,
    concurrency: 32,
    generator: "xdp",
    napiSched: "fifo",
    haltPollNs: 200_000,
    lossLimit: 0.005,
    daemonLog: null,
    daemonCpu: 1,
    fixedRate: 0,
    costRate: 300_000,
    costSeconds: 3,
    tslvsMode: "tc",
    stepTries: 1,
  };
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min)
      throw new Error(`${name} needs a number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    switch (a) {
      case "--help":
      case "-h":
        process.stdout.write(HELP);
        process.exit(0);
        break;
      case "--searches":
        o.searches = Math.floor(num(a, v, 1));
        i++;
        break;
      case "--steps":
        o.steps = Math.floor(num(a, v, 1));
        i++;
        break;
      case "--step-seconds":
        o.stepSeconds = num(a, v, 0.2);
        i++;
        break;
      case "--flows":
        o.flows = Math.floor(num(a, v, 1));
        i++;
        break;
      case "--tcp-seconds":
        o.tcpSeconds = num(a, v, 0);
        i++;
        break;
      case "--concurrency":
        o.concurrency = Math.floor(num(a, v, 1));
        i++;
        break;
      case "--scenarios": {
        const list = (v ?? "").split(",").filter(Boolean);
        for (const s of list)
          if (!(SCENARIOS as readonly string[]).includes(s))
            throw new Error(`unknown scenario ${s} (known: ${SCENARIOS.join(", ")})`);
        if (!list.length) throw new Error("--scenarios needs a list");
        o.scenarios = list as Scenario[];
        i++;
        break;
      }
      case "--generator":
        if (v !== "raw" && v !== "socket" && v !== "xdp")
          throw new Error("--generator must be raw, socket or xdp");
        o.generator = v;
        i++;
        break;
      case "--halt-poll-ns":
        o.haltPollNs = v === "keep" ? null : Math.floor(num(a, v, 0));
        i++;
        break;
      case "--napi-sched":
        if (v !== "fifo" && v !== "other") throw new Error("--napi-sched must be fifo or other");
        o.napiSched = v;
        i++;
        break;
      case "--fixed-rate":
        o.fixedRate = num(a, v, 1);
        i++;
        break;
      case "--daemon-cpu":
        o.daemonCpu = Math.floor(num(a, v, 0));
        i++;
        break;
      case "--step-tries":
        o.stepTries = Math.floor(num(a, v, 1));
        i++;
        break;
      case "--tslvs-mode":
        if (v !== "tc" && v !== "generic") throw new Error("--tslvs-mode must be tc or generic");
        o.tslvsMode = v;
        i++;
        break;
      case "--cost-rate":
        o.costRate = num(a, v, 0);
        i++;
        break;
      case "--cost-seconds":
        o.costSeconds = num(a, v, 0.5);
        i++;
        break;
      case "--daemon-log":
        if (!v) throw new Error("--daemon-log needs a file");
        o.daemonLog = v;
        i++;
        break;
      default:
        throw new Error(`unknown option ${a}\n${HELP}`);
    }
  }
  return o;
}

// ------------------------------------------------------------------------------------- topology

const VIP = "198.18.1.10";
const RIP = "198.19.0.2";
const RIP_DIRECT = "198.19.200.2";
const UDP_PORT = "9";
const TCP_PORT = "80";
/** The flood's source ports: SPORT_BASE.. (the same flows in every step of a search). */
const SPORT_BASE = 20000;

interface Tools {
  flood: string;
  rawFlood: string;
  crr: string;
  soak: string;
}

const CIP = "198.18.0.100";

/** One built topology with (maybe) a running director; everything in it dies with `lab.destroy()`. */
class Bed {
  readonly lab: NetLab;
  readonly dir: string;
  readonly sock: string;
  daemon: ChildProcess | null = null;
  /** MACs of the client's eth0 and of the director's eth0 (the raw generator's frames). */
  clientMac = "";
  directorMac = "";
  /** NAPI kthreads that existed before this bed (see pinFreshNapi). */
  private readonly napiAtStart = napiThreads();

  constructor(
    readonly scenario: Scenario,
    readonly tools: Tools,
    readonly opts: Options,
  ) {
    this.lab = new NetLab(`bdp${process.pid % 100000}`);
    this.dir = mkdtempSync(join(tmpdir(), "bdp-"));
    this.sock = join(this.dir, "tslvs.sock");
  }

  build(): void {
    const lab = this.lab;
    for (const h of ["client", "director", "rs"]) lab.addHost(h);
    lab.link("client", "eth0", "director", "eth0");
    lab.link("director", "eth1", "rs", "eth0");
    lab.link("client", "eth1", "rs", "eth1");
    lab.addAddr("client", "eth0", `${CIP}/24`);
    this.clientMac = lab.mac("client", "eth0");
    this.directorMac = lab.mac("director", "eth0");
    lab.addAddr("client", "eth1", "198.19.200.1/30");
    lab.addRoute("client", "default", "via", "198.18.0.1");
    lab.addAddr("director", "eth0", "198.18.0.1/24");
    lab.addAddr("director", "eth1", "198.19.0.1/24");
    lab.sysctl("director", "net.ipv4.ip_forward", 1);
    lab.addAddr("rs", "eth0", `${RIP}/24`);
    lab.addAddr("rs", "eth1", `${RIP_DIRECT}/30`);
    lab.addRoute("rs", "default", "via", "198.19.0.1");
    if (repliesBypassDirector(this.scenario)) {
      lab.addRoute("rs", `${CIP}/32`, "via", "198.19.200.1", "dev", "eth1");
      // The replies (from the VIP) arrive on the client's eth1, not where its route to the VIP goes.
      for (const k of ["all", "eth1"]) lab.sysctl("client", `net.ipv4.conf.${k}.rp_filter`, 0);
    }
    // DR's real-server script: the VIP on lo, no ARP for it.
    lab.addAddr("rs", "lo", `${VIP}/32`);
    for (const k of ["all", "lo"]) {
      lab.sysctl("rs", `net.ipv4.conf.${k}.arp_ignore`, 1);
      lab.sysctl("rs", `net.ipv4.conf.${k}.arp_announce`, 2);
    }
    lab.sysctl("client", "net.ipv4.ip_local_port_range", "1024 65000");
    // Full checksums from the hosts (see the header comment).
    for (const [h, i] of [
      ["client", "eth0"],
      ["client", "eth1"],
      ["rs", "eth0"],
      ["rs", "eth1"],
    ] as const)
      lab.exec(h, ["ethtool", "-K", i, "tx", "off"]);
    // The director's receive work on CPU 1: RPS, or (xdp generator) eth0's own NAPI thread there.
    for (const i of this.opts.generator === "xdp" ? ["eth1"] : ["eth0", "eth1"])
      lab.exec("director", ["sh", "-c", `echo 2 > /sys/class/net/${i}/queues/rx-0/rps_cpus`]);
    if (this.opts.generator === "xdp") this.napiReceive();
    // The RS drops the flood at its netdev ingress hook, before its IP stack; rx_packets has counted it.
    lab.exec(
      "rs",
      ["nft", "-f", "-"],
      `table netdev sink {
  chain in {
    type filter hook ingress device eth0 priority 0; policy accept;
    udp dport ${UDP_PORT} drop
    ip protocol 4 drop
  }
}
`,
    );
    if (this.opts.tcpSeconds > 0)
      lab.spawn("rs", ["taskset", "-c", "0", this.tools.crr, "server", TCP_PORT], { stdio: "ignore" });
  }

  async configure(): Promise<void> {
    const lab = this.lab;
    switch (this.scenario) {
      case "kernel-fwd":
        lab.addRoute("director", `${VIP}/32`, "via", RIP, "dev", "eth1");
        break;
      case "kernel-fwd-xdp":
        lab.addRoute("director", `${VIP}/32`, "via", RIP, "dev", "eth1");
        await this.holdBenchProgram("xdp-pass.js", ["eth0", "eth1"]);
        break;
      case "tcx-dr-fixed":
        lab.addRoute("director", `${VIP}/32`, "via", RIP, "dev", "eth1");
        await this.holdBenchProgram("tcx-dr.js", ["eth0", "eth1", VIP, lab.mac("rs", "eth0")]);
        break;
      case "nft-dnat":
        lab.exec(
          "director",
          ["nft", "-f", "-"],
          `table ip bench {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${VIP} udp dport ${UDP_PORT} dnat to ${RIP}:${UDP_PORT}
    ip daddr ${VIP} tcp dport ${TCP_PORT} dnat to ${RIP}:${TCP_PORT}
  }
}
`,
        );
        break;
      case "tslvs-tun":
      case "tslvs-tun-native":
        await this.startDaemon("-i");
        break;
      case "tslvs-fullnat":
      case "tslvs-fullnat-native":
        await this.startDaemon("--fullnat");
        break;
      default:
        await this.startDaemon(this.scenario.startsWith("tslvs-nat") ? "-m" : "-g");
        break;
    }
  }

  /**
   * kernel-fwd-xdp: a generic XDP program that passes everything, on both director links;
   * tcx-dr-fixed: the fixed DR rewrite at TC ingress. Held by a process in the director.
   */
  private async holdBenchProgram(script: string, args: string[]): Promise<void> {
    const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
    const p = this.lab.spawn("director", ["node", path, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    p.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    for (let i = 0; !out.includes("attached"); i++) {
      if (p.exitCode !== null) throw new Error(`${script} exited ${p.exitCode}: ${out.trim()}`);
      if (i > 100) throw new Error(`${script} not attached in 10 s: ${out.trim()}`);
      await sleep(100);
    }
  }

  private async startDaemon(method: "-m" | "-g" | "-i" | "--fullnat"): Promise<void> {
    const args = [
      "taskset",
      "-c",
      String(this.opts.daemonCpu),
      "node",
      TSLVS_BIN,
      "start",
      "--socket",
      this.sock,
    ];
    args.push("--state", join(this.dir, "state.yaml"), "--interface", "eth0", "--interface", "eth1");
    args.push(
      "--xdp-mode",
      this.native ? "native" : this.opts.tslvsMode,
      "--log-level",
      this.opts.daemonLog ? "info" : "warn",
    );
    const d = this.lab.spawn("director", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const log = this.opts.daemonLog;
    d.stdout?.on("data", (b: Buffer) => {
      if (log) appendFileSync(log, b);
    });
    d.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (log) appendFileSync(log, b);
    });
    this.daemon = d;
    for (let i = 0; ; i++) {
      await sleep(100);
      if (d.exitCode !== null) throw new Error(`tslvs start exited ${d.exitCode}: ${stderr.trim()}`);
      try {
        await this.adm(["-ln"]);
        break;
      } catch (e) {
        if (i > 150) throw new Error(`tslvs daemon did not answer in 15 s: ${(e as Error).message}`);
      }
    }
    await this.adm(["-A", "-u", `${VIP}:${UDP_PORT}`, "-s", "rr"]);
    await this.adm(["-a", "-u", `${VIP}:${UDP_PORT}`, "-r", `${RIP}:${UDP_PORT}`, method]);
    await this.adm(["-A", "-t", `${VIP}:${TCP_PORT}`, "-s", "rr"]);
    await this.adm(["-a", "-t", `${VIP}:${TCP_PORT}`, "-r", `${RIP}:${TCP_PORT}`, method]);
    // Native XDP on veth runs the director's receive work in eth0's NAPI, scheduled on the
    // sender's CPU unless threaded: the xdp generator's receive path has it already (attaching XDP
    // may have replaced its kthreads); with the others the native scenarios take it on here.
    if (this.opts.generator === "xdp") this.pinFreshNapi();
    else if (this.native) this.napiReceive();
  }

  /**
   * Pins to CPU 1 the NAPI kthreads (napi/eth0-<id>) that appeared since this bed was made: the
   * director's eth0's, the only threaded NAPI of the bed (attaching XDP may replace them).
   */
  private pinFreshNapi(): void {
    const fresh = [...napiThreads()].filter((p) => !this.napiAtStart.has(p));
    if (!fresh.length) throw new Error("threaded NAPI on the director's eth0 started no kthread");
    for (const pid of fresh) {
      execFileSync("taskset", ["-p", "-c", "1", String(pid)], { stdio: "ignore" });
      if (this.opts.napiSched === "fifo")
        execFileSync("chrt", ["-f", "-p", "50", String(pid)], { stdio: "ignore" });
    }
  }

  /**
   * The director's eth0 receives through its own NAPI (GRO on makes veth use one), threaded and
   * pinned to CPU 1 as a NIC's interrupt would be (SCHED_FIFO by default: see --napi-sched); the
   * RS's eth0 gets NAPI too (unthreaded: it runs where the director transmits, CPU 1), which a
   * native XDP redirect into it needs. The xdp generator's receive path for every scenario.
   */
  private napiReceive(): void {
    const lab = this.lab;
    lab.exec("rs", ["ethtool", "-K", "eth0", "gro", "on"]);
    lab.exec("director", ["ethtool", "-K", "eth0", "gro", "on"]);
    lab.exec("director", ["sh", "-c", "echo 1 > /sys/class/net/eth0/threaded"]);
    this.pinFreshNapi();
  }

  get native(): boolean {
    return this.scenario.endsWith("-native");
  }

  adm(args: string[]): Promise<{ stdout: string }> {
    return execFileAsync("node", [TSLVSADM_BIN, ...args], {
      env: { ...process.env, TSLVS_SOCKET: this.sock },
      encoding: "utf8",
    });
  }

  /** Runs a command in a host to completion (killed with the lab on abort); returns its stdout. */
  run(host: string, argv: string[]): Promise<string> {
    const p = this.lab.spawn(host, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    p.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    return new Promise((resolve, reject) => {
      p.on("exit", (code, sig) => {
        if (code === 0) resolve(out);
        else reject(new Error(`${argv.join(" ")}: exit ${code ?? sig}: ${err.trim()}`));
      });
    });
  }

  /**
   * TUN: the RS has no ipip module, so `tslvs rs --mode tun` unwraps the TCP test's IPIP (its XDP
   * program runs before the netdev-ingress drop). Started only around the TCP test: during the UDP
   * flood the frames are counted on arrival (rx_packets) and dropped, as in the other scenarios.
   * Returns a function that stops it and waits for its exit.
   */
  async startTunReceiver(): Promise<() => Promise<void>> {
    const p = this.lab.spawn(
      "rs",
      ["taskset", "-c", "0", "node", TSLVS_BIN, "rs", "--mode", "tun", "--vip", VIP, "--interface", "eth0"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    p.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    p.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    for (let i = 0; !out.includes("tslvs rs: ready"); i++) {
      if (p.exitCode !== null) throw new Error(`tslvs rs exited ${p.exitCode}: ${out.trim()}`);
      if (i > 150) throw new Error(`tslvs rs not ready in 15 s: ${out.trim()}`);
      await sleep(100);
    }
    return async () => {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once("exit", r));
        p.kill("SIGTERM");
        await exited;
      }
      // What the real server's tunnel end did (how many packets XDP unwrapped itself).
      const summary = /tslvs rs: stopped.*/.exec(out)?.[0];
      if (summary) process.stderr.write(`${summary}\n`);
    };
  }

  rsRxPackets(): number {
    return Number(this.lab.exec("rs", ["cat", "/sys/class/net/eth0/statistics/rx_packets"]));
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Pids of the NAPI kthreads of interfaces named eth0 (any namespace). */
function napiThreads(): Set<number> {
  const pids = new Set<number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (/^napi\/eth0-\d+$/.test(readFileSync(`/proc/${e}/comm`, "utf8").trim())) pids.add(Number(e));
    } catch {
      /* exited */
    }
  }
  return pids;
}

// -------------------------------------------------------------------------------- measurements

interface CpuSample {
  softirq: number[];
  busy: number[];
  total: number[];
}

function cpuSample(): CpuSample {
  const s: CpuSample = { softirq: [], busy: [], total: [] };
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.split(/\s+/).map(Number);
    const cpu = Number(m[1]);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    s.softirq[cpu] = f[6]!;
    s.busy[cpu] = total - f[3]! - f[4]!;
    s.total[cpu] = total;
  }
  return s;
}

/** Softirq and busy shares (0..1) of each CPU between two samples. */
function cpuShares(a: CpuSample, b: CpuSample): { si: number[]; busy: number[] } {
  const si: number[] = [];
  const busy: number[] = [];
  for (let c = 0; c < a.total.length; c++) {
    const dt = b.total[c]! - a.total[c]! || 1;
    si[c] = (b.softirq[c]! - a.softirq[c]!) / dt;
    busy[c] = (b.busy[c]! - a.busy[c]!) / dt;
  }
  return { si, busy };
}

interface Step {
  rate: number;
  offered: number;
  delivered: number;
  loss: number;
  cpu0si: number;
  cpu1busy: number;
  /** CPU share of the tslvs daemon process (user + system, all threads); NaN without one. */
  daemonCpu: number;
  /** Frames CPU 1's receive backlog refused (netdev_max_backlog), from /proc/net/softnet_stat. */
  backlogDrops: number;
  cpu0NetRx: number;
  cpu0NetTx: number;
}

/** CPU 0's NET_RX and NET_TX softirq counts (/proc/softirqs). */
function netSoftirqs(): [number, number] {
  const text = readFileSync("/proc/softirqs", "utf8");
  const col = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
  return [col("NET_RX"), col("NET_TX")];
}

/** Per-CPU "dropped" column of /proc/net/softnet_stat (backlog full). */
function backlogDrops(): number[] {
  return readFileSync("/proc/net/softnet_stat", "utf8")
    .trim()
    .split("\n")
    .map((l) => Number.parseInt(l.split(/\s+/)[1]!, 16));
}

/** user + system clock ticks of a process, NaN when it is gone. */
function processTicks(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return Number.NaN;
  }
}

/** The generator's command line: `rate` pps (0: flat out) for `seconds`, on CPU 0. */
function generatorArgv(bed: Bed, rate: number, seconds: number): string[] {
  const flows = String(bed.opts.flows);
  const r = String(Math.round(rate));
  const frames = ["eth0", bed.clientMac, bed.directorMac, CIP, VIP, UDP_PORT, flows];
  const argv =
    bed.opts.generator === "raw"
      ? [bed.tools.rawFlood, ...frames]
      : bed.opts.generator === "xdp"
        ? ["node", fileURLToPath(new URL("./xdp-flood.js", import.meta.url)), ...frames]
        : [bed.tools.flood, VIP, UDP_PORT, flows];
  if (bed.opts.generator !== "socket") argv.push(String(SPORT_BASE), String(seconds), r);
  else argv.push(String(seconds), r, String(SPORT_BASE));
  return ["taskset", "-c", "0", ...argv];
}

/** Parses the generator's "SENT ELAPSED ..." line. */
function generatorOutput(out: string): { sent: number; elapsed: number } {
  const [sentS, elapsedS] = out.trim().split(/\s+/);
  const sent = Number(sentS);
  const elapsed = Number(elapsedS);
  if (!(sent > 0 && elapsed > 0)) throw new Error(`generator printed ${JSON.stringify(out)}`);
  return { sent, elapsed };
}

async function step(bed: Bed, rate: number, seconds: number): Promise<Step> {
  const before = bed.rsRxPackets();
  const d0 = backlogDrops();
  const n0 = netSoftirqs();
  const p0 = processTicks(bed.daemon?.pid);
  const t0 = performance.now();
  const c0 = cpuSample();
  const out = await bed.run("client", generatorArgv(bed, rate, seconds));
  const c1 = cpuSample();
  const p1 = processTicks(bed.daemon?.pid);
  const t1 = performance.now();
  await sleep(200); // frames still in the director's queues
  const d1 = backlogDrops();
  const n1 = netSoftirqs();
  const delivered = bed.rsRxPackets() - before;
  const { sent, elapsed } = generatorOutput(out);
  const shares = cpuShares(c0, c1);
  return {
    rate,
    offered: sent / elapsed,
    delivered: delivered / elapsed,
    loss: Math.max(0, 1 - delivered / sent),
    cpu0si: shares.si[0] ?? 0,
    cpu1busy: shares.busy[1] ?? 0,
    daemonCpu: (p1 - p0) / CLOCK_TICKS / ((t1 - t0) / 1000),
    backlogDrops: (d1[1] ?? 0) - (d0[1] ?? 0),
    cpu0NetRx: n1[0] - n0[0],
    cpu0NetTx: n1[1] - n0[1],
  };
}

interface Cost {
  /** The soaker's loop rate on the director's CPU with no traffic, and under `offered`. */
  idleLoops: number;
  loadedLoops: number;
  offered: number;
  delivered: number;
  /** Share of the director's CPU the traffic took. */
  cpuShare: number;
  /** Nanoseconds of the director's CPU per delivered packet. */
  nsPerPacket: number;
}

/**
 * What a packet costs the director's CPU, whatever the generator can offer: bench/cpu-soak.c runs
 * at SCHED_IDLE on CPU 1 with no traffic, under a fixed rate every scenario passes without loss,
 * and with no traffic again; the share of its loops the traffic took, over the delivered rate, is the CPU time
 * per packet: kernel receive work, XDP, the daemon, and the RS link's receive (the same for every
 * scenario). The no-drop search stops at the generator's ceiling; this does not.
 */
async function cpuCost(bed: Bed): Promise<Cost> {
  const o = bed.opts;
  const soak = (): Promise<number> =>
    bed
      .run("director", ["chrt", "--idle", "0", "taskset", "-c", "1", bed.tools.soak, String(o.costSeconds)])
      .then((out) => Number(out.trim()));
  const idleBefore = await soak();
  const before = bed.rsRxPackets();
  // The soaker's window lies inside the traffic's: it starts 0.3 s after the generator, which runs
  // 0.6 s longer.
  const traffic = bed.run("client", generatorArgv(bed, o.costRate, o.costSeconds + 0.6));
  await sleep(300);
  const loadedLoops = await soak();
  const { sent, elapsed } = generatorOutput(await traffic);
  await sleep(200);
  const delivered = (bed.rsRxPackets() - before) / elapsed;
  // Idle on both sides of the loaded window: a drift in what else the machine runs shows as a
  // difference between the two (printed) and is halved in their mean.
  const idleAfter = await soak();
  const idleLoops = (idleBefore + idleAfter) / 2;
  const cpuShare = Math.max(0, 1 - loadedLoops / idleLoops);
  const c: Cost = {
    idleLoops,
    loadedLoops,
    offered: sent / elapsed,
    delivered,
    cpuShare,
    nsPerPacket: delivered > 0 ? (cpuShare / delivered) * 1e9 : Number.NaN,
  };
  process.stdout.write(
    `    cost: ${kpps(c.offered)} kpps offered, ${kpps(c.delivered)} delivered, director CPU ${pct(cpuShare)} (soaker idle ${(idleBefore / 1e6).toFixed(0)} / ${(idleAfter / 1e6).toFixed(0)}, loaded ${(loadedLoops / 1e6).toFixed(0)} M loops/s), ${c.nsPerPacket.toFixed(0)} ns per packet\n`,
  );
  return c;
}

/** USER_HZ: /proc/<pid>/stat counts in these. */
const CLOCK_TICKS = 100;

interface Search {
  noDrop: number;
  noDropOffered: number;
  noDropCpu0si: number;
  overOffered: number;
  overDelivered: number;
  overCpu0si: number;
  generatorMax: number;
  /** The flat-out step passed: the director was not the limit. */
  generatorBound: boolean;
  steps: Step[];
}

function logStep(s: Step): Step {
  process.stdout.write(
    `    ${s.rate ? `${kpps(s.rate)} asked` : "flat out"}: offered ${kpps(s.offered)} delivered ${kpps(s.delivered)} kpps, loss ${(s.loss * 100).toFixed(2)} %, cpu0 si ${pct(s.cpu0si)}, cpu1 busy ${pct(s.cpu1busy)}${Number.isNaN(s.daemonCpu) ? "" : `, daemon ${pct(s.daemonCpu)}`}, cpu1 backlog drops ${s.backlogDrops}, cpu0 softirqs rx/tx ${s.cpu0NetRx}/${s.cpu0NetTx}\n`,
  );
  return s;
}

/** --fixed-rate: the loss of each step at one offered rate. */
async function fixedRateSteps(bed: Bed): Promise<number[]> {
  const losses: number[] = [];
  for (let i = 0; i < bed.opts.steps; i++)
    losses.push(logStep(await step(bed, bed.opts.fixedRate, bed.opts.stepSeconds)).loss);
  return losses;
}

async function search(bed: Bed): Promise<Search> {
  const o = bed.opts;
  const steps: Step[] = [];
  const log = (s: Step) => {
    steps.push(s);
    return logStep(s);
  };

  // A step that loses too much is tried again up to stepTries - 1 times: a director that cannot
  // carry the rate fails every try; a stall of the VM (which hits every scenario, the kernel's too)
  // seldom hits two in a row.
  const trial = async (rate: number): Promise<Step> => {
    let s = log(await step(bed, rate, o.stepSeconds));
    for (let t = 1; t < o.stepTries && s.loss >= o.lossLimit; t++)
      s = log(await step(bed, rate, o.stepSeconds));
    return s;
  };
  const flat = await trial(0);
  let best: Step | null = flat.loss < o.lossLimit ? flat : null;
  let lo = 0;
  let hi = flat.offered;
  for (let i = 1; i < o.steps && best !== flat; i++) {
    const mid = (lo + hi) / 2;
    const s = await trial(mid);
    if (s.loss < o.lossLimit) {
      lo = mid;
      if (!best || s.delivered > best.delivered) best = s;
    } else hi = mid;
  }
  // Twice the no-drop step's offered rate, or flat out when the generator cannot offer that (or
  // when no step passed).
  const noDropOffered = best ? best.offered : 0;
  const overRate = best && 2 * best.offered < flat.offered ? 2 * best.offered : 0;
  const over = log(await step(bed, overRate, o.stepSeconds));
  return {
    noDrop: best?.delivered ?? 0,
    noDropOffered,
    noDropCpu0si: best?.cpu0si ?? Number.NaN,
    overOffered: over.offered,
    overDelivered: over.delivered,
    overCpu0si: over.cpu0si,
    generatorMax: flat.offered,
    generatorBound: best === flat,
    steps,
  };
}

interface Tcp {
  connsPerSecond: number;
  errors: number;
  p50: number;
  p99: number;
  directP50: number;
  directP99: number;
  cpu1busy: number;
}

async function tcp(bed: Bed): Promise<Tcp> {
  const o = bed.opts;
  const crr = (host: string, conc: number) =>
    bed
      .run("client", [
        "taskset",
        "-c",
        "0",
        bed.tools.crr,
        "client",
        host,
        TCP_PORT,
        String(conc),
        String(o.tcpSeconds),
      ])
      .then((out) => {
        const [conns, errors, secs, p50, , p99] = out.trim().split(/\s+/).map(Number);
        return { rate: conns! / secs!, errors: errors!, p50: p50!, p99: p99! };
      });
  const c0 = cpuSample();
  const rate = await crr(VIP, o.concurrency);
  const shares = cpuShares(c0, cpuSample());
  const lat = await crr(VIP, 1);
  const direct = await crr(RIP_DIRECT, 1);
  process.stdout.write(
    `    tcp: ${rate.rate.toFixed(0)} conn/s (${rate.errors} errors, cpu1 busy ${pct(shares.busy[1] ?? 0)}); latency p50/p99 ${lat.p50.toFixed(0)}/${lat.p99.toFixed(0)} us, direct ${direct.p50.toFixed(0)}/${direct.p99.toFixed(0)} us\n`,
  );
  return {
    connsPerSecond: rate.rate,
    errors: rate.errors + lat.errors,
    p50: lat.p50,
    p99: lat.p99,
    directP50: direct.p50,
    directP99: direct.p99,
    cpu1busy: shares.busy[1] ?? 0,
  };
}

/** The fast path's flow map (BPF hash, 16-byte key, 80-byte value) as the daemon holds it: memlock, max entries. */
function flowMapInfo(bed: Bed): { memlock: number; maxEntries: number } | null {
  const pid = bed.daemon?.pid;
  if (!pid) return null;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = "";
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== "anon_inode:bpf-map") continue;
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    const field = (k: string) => Number(new RegExp(`^${k}:\\s*(\\d+)`, "m").exec(info)?.[1] ?? Number.NaN);
    if (field("map_type") === 1 && field("key_size") === 16 && field("value_size") === 80)
      return { memlock: field("memlock"), maxEntries: field("max_entries") };
  }
  return null;
}

interface FlowMapGrowth {
  conns: number;
  memlockBefore: number;
  memlockAfter: number;
}

/**
 * Bytes per offloaded flow: the growth of the flow map's `memlock` (the kernel's accounting of a
 * non-preallocated hash map, per element) over the warm-up, divided by the conns the director then
 * lists (UDP: one inbound entry per conn, the RS sends nothing back).
 */
async function flowMapGrowth(bed: Bed, before: { memlock: number } | null): Promise<FlowMapGrowth | null> {
  const after = flowMapInfo(bed);
  if (!before || !after) return null;
  const { stdout } = await bed.adm(["-lnc"]);
  const conns = stdout.split("\n").filter((l) => l.startsWith("UDP")).length;
  return { conns, memlockBefore: before.memlock, memlockAfter: after.memlock };
}

// ---------------------------------------------------------------------------------- reporting

function readSlabinfo(): string {
  try {
    return readFileSync("/proc/slabinfo", "utf8");
  } catch {
    return "";
  }
}

function kpps(pps: number): string {
  return (pps / 1000).toFixed(0);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function spread(xs: number[], digits: number, scale = 1): string {
  const s = xs.filter((x) => Number.isFinite(x));
  if (!s.length) return "-";
  return `${(median(s) / scale).toFixed(digits)} (${(Math.min(...s) / scale).toFixed(digits)}-${(Math.max(...s) / scale).toFixed(digits)})`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// -------------------------------------------------------------------------------------- main

interface Round {
  search: Search;
  cost: Cost | null;
  tcp: Tcp | null;
}

let current: Bed | null = null;
let work: string | null = null;

const HALT_POLL = "/sys/module/haltpoll/parameters/guest_halt_poll_ns";
/** guest_halt_poll_ns as it was before the run (null: not changed). */
let haltPollBefore: string | null = null;

/** Sets the guest's halt-polling window for the run (see --halt-poll-ns); false if there is none. */
function setHaltPoll(ns: number): boolean {
  try {
    haltPollBefore = readFileSync(HALT_POLL, "utf8").trim();
    writeFileSync(HALT_POLL, String(ns));
    return true;
  } catch {
    haltPollBefore = null;
    return false;
  }
}

async function cleanup(): Promise<void> {
  const b = current;
  current = null;
  if (b) await b.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
  work = null;
  if (haltPollBefore !== null) writeFileSync(HALT_POLL, haltPollBefore);
  haltPollBefore = null;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("needs root (namespaces, XDP)");
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: removing the benchmark's namespaces and processes\n`);
      cleanup().finally(() => process.exit(130));
    });
  work = mkdtempSync(join(tmpdir(), "bdp-tools-"));
  const tools: Tools = {
    flood: join(work, "udp-flood"),
    rawFlood: join(work, "raw-flood"),
    crr: join(work, "tcp-crr"),
    soak: join(work, "cpu-soak"),
  };
  for (const [src, out] of [
    ["udp-flood.c", tools.flood],
    ["raw-flood.c", tools.rawFlood],
    ["tcp-crr.c", tools.crr],
    ["cpu-soak.c", tools.soak],
  ] as const) {
    const path = fileURLToPath(new URL(`../../bench/${src}`, import.meta.url));
    try {
      execFileSync("gcc", ["-O2", "-o", out, path], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      throw new Error(`this benchmark compiles bench/${src} with gcc: ${(e as Error).message}`);
    }
  }
  const model = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  const started = Date.now();
  process.stdout.write(
    `data plane against the kernel: ${model}, kernel ${kernel}, node ${process.version}, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}\n` +
      `settings: ${opts.generator} generator, NAPI threads ${opts.napiSched}, ${opts.searches} searches x ${opts.steps} steps of ${opts.stepSeconds} s, ${opts.flows} flows, loss limit ${opts.lossLimit * 100} %, ${opts.stepTries} tries per step, tcp ${opts.tcpSeconds} s x ${opts.concurrency} loops, tslvs --xdp-mode ${opts.tslvsMode}\n`,
  );
  const haltPoll =
    opts.haltPollNs === null
      ? "as booted"
      : setHaltPoll(opts.haltPollNs)
        ? `${opts.haltPollNs} ns`
        : "none here";
  process.stdout.write(`guest halt polling: ${haltPoll}\n`);
  const rounds = new Map<Scenario, Round[]>(opts.scenarios.map((s) => [s, []]));
  let flowMap: FlowMapGrowth | null = null;
  const fixedLoss = new Map<Scenario, number[]>();
  for (let r = 0; r < opts.searches; r++) {
    for (const sc of opts.scenarios) {
      process.stdout.write(`  search ${r + 1} ${sc}\n`);
      const bed = new Bed(sc, tools, opts);
      current = bed;
      try {
        bed.build();
        await bed.configure();
        const mapBefore = flowMapInfo(bed);
        // Warm-up: ARP, and every flow's first packets (tslvs schedules them and installs the flows).
        await step(bed, 20_000, 0.5);
        // One TCP connection through the VIP: the director learns the client's MAC (tslvs drops
        // a packet whose next hop is still being resolved, as a router does).
        // (TUN: the director never sends to the client; its receiver runs for the TCP test only.)
        if (opts.tcpSeconds > 0 && !sc.startsWith("tslvs-tun"))
          await bed.run("client", [tools.crr, "client", VIP, TCP_PORT, "1", "0.1"]);
        await sleep(300);
        if (isTslvs(sc) && !flowMap) flowMap = await flowMapGrowth(bed, mapBefore);
        if (opts.fixedRate > 0) {
          const losses = await fixedRateSteps(bed);
          fixedLoss.set(sc, [...(fixedLoss.get(sc) ?? []), ...losses]);
          continue;
        }
        const s = await search(bed);
        const cost = opts.costRate > 0 ? await cpuCost(bed) : null;
        let t: Tcp | null = null;
        if (opts.tcpSeconds > 0) {
          const stopReceiver = sc.startsWith("tslvs-tun") ? await bed.startTunReceiver() : null;
          try {
            t = await tcp(bed);
          } finally {
            await stopReceiver?.();
          }
        }
        rounds.get(sc)!.push({ search: s, cost, tcp: t });
      } finally {
        current = null;
        await bed.destroy();
      }
    }
  }
  if (opts.fixedRate > 0) {
    for (const [sc, ls] of fixedLoss)
      process.stdout.write(
        `${sc} at ${kpps(opts.fixedRate)} kpps: loss % per step ${ls.map((l) => (l * 100).toFixed(2)).join(" / ")}, median ${(median(ls) * 100).toFixed(2)}\n`,
      );
    return;
  }
  report(opts, rounds, flowMap, started);
}

function report(
  opts: Options,
  rounds: Map<Scenario, Round[]>,
  flowMap: FlowMapGrowth | null,
  started: number,
): void {
  const out: string[] = [];
  const w = (s: string) => out.push(s);
  w("");
  w(`command: node dist/bench/dataplane.js ${process.argv.slice(2).join(" ")}`);
  w(
    `settings: ${opts.generator} generator, NAPI threads ${opts.napiSched}, halt polling ${opts.haltPollNs ?? "as booted"}, ${opts.searches} searches x ${opts.steps} steps of ${opts.stepSeconds} s, ${opts.flows} flows, TCP ${opts.tcpSeconds} s (${opts.concurrency} loops; latency with 1), ${opts.stepTries} tries per step, tslvs --xdp-mode ${opts.tslvsMode} (-native: native)`,
  );
  w("(+: the generator's flat-out rate passed, so the no-drop rate is at least this)");
  w(
    `| scenario | no-drop kpps (per search) | median | CPU0 si % | overload offered kpps | overload delivered kpps (per search) | overload / own no-drop | CPU0 si % | TCP conn/s | p99 us (direct) |`,
  );
  w("|---|---|---|---|---|---|---|---|---|---|");
  for (const [sc, rs] of rounds) {
    const nd = rs.map((r) => r.search.noDrop);
    const ov = rs.map((r) => r.search.overDelivered);
    const tcps = rs.map((r) => r.tcp).filter((t): t is Tcp => t !== null);
    w(
      `| ${sc} | ${rs.map((r) => `${kpps(r.search.noDrop)}${r.search.generatorBound ? "+" : ""}`).join(" / ")} | ${kpps(median(nd))} | ${spread(
        rs.map((r) => r.search.noDropCpu0si * 100),
        1,
      )} | ${kpps(median(rs.map((r) => r.search.overOffered)))} | ${ov.map(kpps).join(" / ")} | ${spread(
        rs.map((r) => r.search.overDelivered / r.search.noDrop),
        2,
      )} | ${spread(
        rs.map((r) => r.search.overCpu0si * 100),
        1,
      )} | ${
        tcps.length
          ? spread(
              tcps.map((t) => t.connsPerSecond),
              0,
            )
          : "-"
      } | ${
        tcps.length
          ? `${median(tcps.map((t) => t.p99)).toFixed(0)} (${median(tcps.map((t) => t.directP99)).toFixed(0)})`
          : "-"
      } |`,
    );
  }
  const ratio = (
    a: Scenario,
    b: Scenario,
    f: (r: Round) => number | null,
    label: string,
    target?: string,
  ) => {
    const ra = rounds.get(a);
    const rb = rounds.get(b);
    if (!ra || !rb) return;
    const xs: number[] = [];
    for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
      const x = f(ra[i]!);
      const y = f(rb[i]!);
      if (x !== null && y !== null && y > 0) xs.push(x / y);
    }
    w(`| ${label} | ${spread(xs, 2)} | ${xs.map((x) => x.toFixed(2)).join(" / ")} | ${target ?? ""} |`);
  };
  if ([...rounds.values()].some((rs) => rs.some((r) => r.cost))) {
    w("");
    w(
      `director CPU per delivered packet at ${kpps(opts.costRate)} kpps offered (bench/cpu-soak.c at SCHED_IDLE on CPU 1, ${opts.costSeconds} s idle, loaded, idle):`,
    );
    w("| scenario | ns per packet (per search) | median (min-max) | director CPU share | delivered kpps |");
    w("|---|---|---|---|---|");
    for (const [sc, rs] of rounds) {
      const cs = rs.map((r) => r.cost).filter((c): c is Cost => c !== null);
      if (!cs.length) continue;
      w(
        `| ${sc} | ${cs.map((c) => c.nsPerPacket.toFixed(0)).join(" / ")} | ${spread(
          cs.map((c) => c.nsPerPacket),
          0,
        )} | ${spread(
          cs.map((c) => c.cpuShare * 100),
          1,
        )} % | ${spread(
          cs.map((c) => c.delivered),
          0,
          1000,
        )} |`,
      );
    }
  }
  w("");
  w("| ratio (per interleaved search pair) | median (min-max) | per search | target |");
  w("|---|---|---|---|");
  ratio("tslvs-nat", "nft-dnat", (r) => r.search.noDrop, "no-drop: tslvs NAT / nft DNAT", ">= 1.5");
  ratio("tslvs-dr", "kernel-fwd", (r) => r.search.noDrop, "no-drop: tslvs DR / kernel forwarding", ">= 1.0");
  ratio("tslvs-nat", "nft-dnat", (r) => r.search.overDelivered, "overload delivered: tslvs NAT / nft DNAT");
  // Per packet CPU, peer over tslvs: how many more packets tslvs would pass on the same CPU.
  const ns = (r: Round) => r.cost?.nsPerPacket ?? null;
  ratio("nft-dnat", "tslvs-nat", ns, "director CPU per packet: nft DNAT / tslvs NAT");
  ratio("kernel-fwd", "tslvs-dr", ns, "director CPU per packet: kernel forwarding / tslvs DR");
  ratio("tcx-dr-fixed", "tslvs-dr", ns, "director CPU per packet: fixed DR at TC ingress / tslvs DR");
  ratio(
    "kernel-fwd",
    "tcx-dr-fixed",
    ns,
    "director CPU per packet: kernel forwarding / fixed DR at TC ingress",
  );
  ratio(
    "kernel-fwd-xdp",
    "tslvs-dr",
    ns,
    "director CPU per packet: kernel forwarding under generic XDP / tslvs DR",
  );
  ratio(
    "tslvs-dr",
    "kernel-fwd-xdp",
    (r) => r.search.noDrop,
    "no-drop: tslvs DR / kernel forwarding under generic XDP",
  );
  ratio(
    "tslvs-dr",
    "kernel-fwd",
    (r) => r.search.overDelivered,
    "overload delivered: tslvs DR / kernel forwarding",
  );
  ratio(
    "tslvs-nat-native",
    "nft-dnat",
    (r) => r.search.noDrop,
    "no-drop: tslvs NAT native / nft DNAT",
    ">= 1.5",
  );
  ratio(
    "tslvs-dr-native",
    "kernel-fwd",
    (r) => r.search.noDrop,
    "no-drop: tslvs DR native / kernel forwarding",
    ">= 1.0",
  );
  ratio("nft-dnat", "tslvs-nat-native", ns, "director CPU per packet: nft DNAT / tslvs NAT native");
  ratio("kernel-fwd", "tslvs-dr-native", ns, "director CPU per packet: kernel forwarding / tslvs DR native");
  ratio(
    "tslvs-nat-native",
    "nft-dnat",
    (r) => r.search.overDelivered,
    "overload delivered: tslvs NAT native / nft DNAT",
  );
  for (const [sc, rs] of rounds)
    w(
      `| overload / own no-drop: ${sc} | ${spread(
        rs.map((r) => r.search.overDelivered / r.search.noDrop),
        2,
      )} | | ${isTslvs(sc) ? ">= 0.9" : ""} |`,
    );
  ratio("tslvs-tun", "tslvs-nat", (r) => r.search.noDrop, "no-drop: tslvs TUN / tslvs NAT", ">= 0.9");
  ratio("tslvs-nat", "tslvs-tun", ns, "director CPU per packet: tslvs NAT / tslvs TUN");
  ratio("tslvs-nat", "tslvs-fullnat", ns, "director CPU per packet: tslvs NAT / tslvs FULLNAT");
  ratio("tslvs-fullnat", "tslvs-nat", (r) => r.search.noDrop, "no-drop: tslvs FULLNAT / tslvs NAT", ">= 0.9");
  ratio(
    "tslvs-tun-native",
    "tslvs-nat-native",
    (r) => r.search.noDrop,
    "no-drop: tslvs TUN / NAT, native",
    ">= 0.9",
  );
  ratio(
    "tslvs-fullnat-native",
    "tslvs-nat-native",
    (r) => r.search.noDrop,
    "no-drop: tslvs FULLNAT / NAT, native",
    ">= 0.9",
  );
  ratio("tslvs-nat-native", "tslvs-tun-native", ns, "director CPU per packet: tslvs NAT / TUN, native");
  ratio(
    "tslvs-nat-native",
    "tslvs-fullnat-native",
    ns,
    "director CPU per packet: tslvs NAT / FULLNAT, native",
  );
  ratio("tslvs-nat", "nft-dnat", (r) => r.tcp?.connsPerSecond ?? null, "TCP conn/s: tslvs NAT / nft DNAT");
  ratio(
    "tslvs-tun",
    "tslvs-nat",
    (r) => r.tcp?.connsPerSecond ?? null,
    "TCP conn/s: tslvs TUN / tslvs NAT",
    ">= 0.9",
  );
  ratio(
    "tslvs-fullnat",
    "tslvs-nat",
    (r) => r.tcp?.connsPerSecond ?? null,
    "TCP conn/s: tslvs FULLNAT / tslvs NAT",
    ">= 0.9",
  );
  ratio(
    "tslvs-dr",
    "kernel-fwd",
    (r) => r.tcp?.connsPerSecond ?? null,
    "TCP conn/s: tslvs DR / kernel forwarding",
  );
  w("");
  for (const [sc, rs] of rounds) {
    const tcps = rs.map((r) => r.tcp).filter((t): t is Tcp => t !== null);
    if (!tcps.length) continue;
    w(
      `p99 latency added by the director, ${sc}: ${spread(
        tcps.map((t) => t.p99 - t.directP99),
        0,
      )} us (p50 added ${spread(
        tcps.map((t) => t.p50 - t.directP50),
        0,
      )} us; director p99 ${spread(
        tcps.map((t) => t.p99),
        0,
      )}, direct p99 ${spread(
        tcps.map((t) => t.directP99),
        0,
      )})`,
    );
  }
  const table = new ConnTable({ capacity: 1 << 20, bucketBits: 12 });
  let tableBytes = 0;
  for (const v of Object.values(table)) if (ArrayBuffer.isView(v)) tableBytes += v.byteLength;
  for (const v of Object.values(table.wheel)) if (ArrayBuffer.isView(v)) tableBytes += v.byteLength;
  w(
    `bytes per tracked connection (core table, daemon default 2^20 conns, 2^12 buckets): ${(tableBytes / table.capacity).toFixed(1)} (records ${ConnTable.bytesPerEntry()})`,
  );
  const ct = /^nf_conntrack\s+\d+\s+\d+\s+(\d+)/m.exec(readSlabinfo());
  if (ct) w(`for comparison, the kernel's nf_conntrack entry (slab object): ${ct[1]} bytes`);
  if (flowMap)
    w(
      `fast-path flow map: memlock ${flowMap.memlockBefore} -> ${flowMap.memlockAfter} bytes for ${flowMap.conns} UDP conns = ${(
        (flowMap.memlockAfter - flowMap.memlockBefore) / (flowMap.conns || 1)
      ).toFixed(1)} bytes per offloaded flow entry`,
    );
  w(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
}

main()
  .catch(async (e) => {
    process.stderr.write(`dataplane benchmark: ${(e as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
