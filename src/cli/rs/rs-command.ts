import { existsSync, readdirSync } from "node:fs";
import { IpAddr } from "../../core/address.js";
import { ip } from "../../platform/ip-command.js";
import { parseOptions, UsageError } from "../cli-args.js";
import { UndoableHostChanges } from "./undoable-host-changes.js";
import { putVipsOnLoopback } from "./vip-on-loopback.js";

const USAGE = `usage: tslvs rs --mode dr|tun --vip VIP [--vip VIP2 ...] [--interface IF ...] [--tun-name NAME]
                [--tun-type ipip|gue|gre] [--tun-port PORT] [--xdp-mode auto|native|generic]
  dr   the classic DR real-server script: the VIPs (IPv4 or IPv6) on lo, ARP for IPv4 ones
       suppressed (arp_ignore=1, arp_announce=2); undone on stop.
  tun  the same, plus a tunnel end for hosts without the ipip/sit/ip6_tunnel modules: tunnel
       packets to this host (IPv4 or IPv6 outside, protocol 4 or 41) are taken from the kernel by
       XDP, decapsulated there (or, for unusual ones, in user space, through a TUN device, default
       tslvs-tun0) and handed to the host's stack; replies go out the normal route.
       --tun-type gue --tun-port PORT also takes GUE (UDP to PORT, as the fou module would), and
       --tun-type gre GRE (protocol 47, as ip_gre would), checksums checked, in user space;
       IPIP is always taken.
Runs until SIGTERM/SIGINT, then removes everything it added.
`;

/** `tslvs rs`: makes this host a real server for LVS-DR or LVS-TUN. Returns the exit status. */
export async function rsCommand(args: string[]): Promise<number> {
  let mode: string;
  let vips: string[];
  let interfaces: string[];
  let tunName: string;
  let xdpMode: "auto" | "native" | "generic";
  let tunType: "ipip" | "gue" | "gre";
  let tunPort = 0;
  try {
    const { opts, words } = parseOptions(args, {
      mode: "value",
      vip: "repeat",
      interface: "repeat",
      "tun-name": "value",
      "xdp-mode": "value",
      "tun-type": "value",
      "tun-port": "value",
    });
    if (words.length) throw new UsageError(`unexpected argument ${words[0]}`);
    mode = opts.get("mode")?.[0] ?? "";
    if (mode !== "dr" && mode !== "tun") throw new UsageError("--mode must be dr or tun");
    vips = opts.get("vip") ?? [];
    if (vips.length === 0) throw new UsageError("at least one --vip is needed");
    // Written as `ip` prints them, so an address already on lo is recognised.
    vips = vips.map((v) => {
      const a = IpAddr.parse(v);
      if (!a) throw new UsageError(`--vip ${v} is not an IPv4 or IPv6 address`);
      return a.toString();
    });
    interfaces = opts.get("interface") ?? [];
    tunName = opts.get("tun-name")?.[0] ?? "tslvs-tun0";
    const m = opts.get("xdp-mode")?.[0] ?? "auto";
    if (m !== "auto" && m !== "native" && m !== "generic")
      throw new UsageError("--xdp-mode must be auto|native|generic");
    xdpMode = m;
    const tt = opts.get("tun-type")?.[0] ?? "ipip";
    if (tt !== "ipip" && tt !== "gue" && tt !== "gre")
      throw new UsageError("--tun-type must be ipip|gue|gre");
    tunType = tt;
    if (opts.has("tun-type") && mode !== "tun") throw new UsageError("--tun-type needs --mode tun");
    const tp = opts.get("tun-port")?.[0];
    if (tunType === "gue") {
      if (tp === undefined) throw new UsageError("--tun-type gue needs --tun-port");
      tunPort = Number(tp);
      if (!/^\d+$/.test(tp) || tunPort < 1 || tunPort > 65535)
        throw new UsageError(`--tun-port ${tp} is not a port (1-65535)`);
    } else if (tp !== undefined) {
      throw new UsageError("--tun-port is only for --tun-type gue");
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`tslvs rs: ${e.message}\n${USAGE}`);
    return 2;
  }

  const host = new UndoableHostChanges();
  let stopReceiver: (() => Promise<string>) | null = null;
  try {
    putVipsOnLoopback(host, vips);
    if (mode === "tun")
      stopReceiver = await startTunReceiver(host, vips, interfaces, tunName, xdpMode, tunType, tunPort);
  } catch (e) {
    const failed = host.undoAll();
    process.stderr.write(`tslvs rs: ${(e as Error).message}\n`);
    for (const f of failed) process.stderr.write(`tslvs rs: could not undo ${f}\n`);
    return 1;
  }
  process.stdout.write(`tslvs rs: ready, mode ${mode}, VIP ${vips.join(", ")}\n`);

  return new Promise<number>((resolve) => {
    // Nothing else may keep the process alive (DR mode has no sockets): wait for a signal.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) process.exit(1);
      stopping = true;
      let summary = "";
      if (stopReceiver) summary = await stopReceiver().catch((e: Error) => `receiver: ${e.message}`);
      const failed = host.undoAll();
      for (const f of failed) process.stderr.write(`tslvs rs: could not undo ${f}\n`);
      process.stdout.write(`tslvs rs: stopped on ${signal}, host restored${summary ? `; ${summary}` : ""}\n`);
      clearInterval(keepAlive);
      resolve(failed.length ? 1 : 0);
    };
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
  });
}

/**
 * The TUN real server's tunnel end: the tunnel receiver (which unwraps most packets in XDP) and, for
 * the packets it unwraps in user space, a TUN device that is up and not filtered by reverse path
 * (the inner packets come from clients the device has no route to). Returns the function that stops
 * it (and reports what it did).
 */
async function startTunReceiver(
  host: UndoableHostChanges,
  vips: string[],
  interfaces: string[],
  tunName: string,
  xdpMode: "auto" | "native" | "generic",
  tunType: "ipip" | "gue" | "gre",
  tunPort: number,
): Promise<() => Promise<string>> {
  const { TunDevice } = await import("../../platform/tun-device.js");
  const { IpipReceiver } = await import("../../dataplane/realserver/ipip-receiver.js");
  const { readInterfaces } = await import("../../dataplane/host-net.js");
  const tun = TunDevice.open(tunName);
  host.onUndo(`TUN device ${tunName}`, () => tun.close());
  ip(["link", "set", tunName, "up"]);
  // Reverse-path filtering must be off on the TUN device: it has no IPv4 address, and the kernel
  // then drops every packet arriving on it under any rp_filter, loose included (fib_validate_source's
  // "last resort"). The effective value is max(all, device), so a non-zero "all" is moved onto each
  // existing interface (their filtering stays as it was) and "all" becomes 0.
  host.sysctl(`net.ipv4.conf.${tunName}.rp_filter`, 0);
  const all = Number(host.read("net.ipv4.conf.all.rp_filter"));
  if (all !== 0) {
    for (const name of readdirSync("/proc/sys/net/ipv4/conf")) {
      if (name === "all" || name === "default" || name === "lo" || name === tunName) continue;
      const key = `net/ipv4/conf/${name}/rp_filter`;
      if (Number(host.read(key)) < all) host.sysctl(key, all);
    }
    host.sysctl("net.ipv4.conf.all.rp_filter", 0);
  }
  // IPv6 inner packets need IPv6 on the device (it has no address and needs none: the VIPs are on lo).
  if (vips.some((v) => v.includes(":")) && host.read(`net.ipv6.conf.${tunName}.disable_ipv6`) !== "0")
    host.sysctl(`net.ipv6.conf.${tunName}.disable_ipv6`, 0);
  const chosen = interfaces.length
    ? interfaces
    : (await readInterfaces()).filter((i) => !i.loopback && i.up && i.name !== tunName).map((i) => i.name);
  // Inner packets unwrapped in XDP arrive on the receiving interface itself: a strict filter there
  // would drop those whose client is routed out of another interface; loose still checks reachability.
  for (const name of chosen) {
    const key = `net/ipv4/conf/${name}/rp_filter`;
    if (existsSync(`/proc/sys/${key}`) && host.read(key) === "1") host.sysctl(key, 2);
  }
  const receiver = await IpipReceiver.start({
    interfaces: chosen,
    vips: vips.map((v) => IpAddr.mustParse(v)),
    tun,
    // "auto" for the real server: native XDP where the driver has it, else generic (its program
    // runs at XDP only; the director's "auto" may pick the tc mode instead).
    xdpMode: xdpMode === "auto" ? "native-or-generic" : xdpMode,
    guePort: tunType === "gue" ? tunPort : 0,
    gre: tunType === "gre",
  });
  process.stdout.write(
    `tslvs rs: receiving tunnel packets (ipip${tunType === "gue" ? `, gue port ${tunPort}` : tunType === "gre" ? ", gre" : ""}) on ${receiver.modes.join(", ")}; inner packets go to ${tunName}\n`,
  );
  return async () => {
    await receiver.stop();
    const c = receiver.counters;
    return `tunnel packets received ${c.received}, delivered ${c.delivered} (in XDP ${c.inXdp}), not for a VIP ${c.notForVip}, malformed ${c.malformed}, refused by ${tunName} ${c.tunRefused}, CE around not-ECT dropped ${c.ecnDropped}; GUE/GRE packets among them ${c.encapsulated}`;
  };
}
