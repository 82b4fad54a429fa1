/**
 * Keeps the host's own stack from answering a virtual service on a VRRP address when the packet
 * engine is gone. While tslvs runs, its steering program takes every packet for a service before
 * the host sees it; a director that crashes (SIGKILL) cannot remove its VIPs, and its programs go
 * with its process, so its kernel would answer the clients' packets for the VIP with resets until
 * the backup's gratuitous ARP moves them — killing connections the backup holds in sync. keepalived
 * does not meet this because the kernel's IPVS outlives keepalived.
 *
 * The guard is an nftables table of tslvs's own (`inet tslvs_vip_guard`): an input-hook chain that
 * drops TCP, UDP and SCTP to the virtual services' (VIP, protocol, port) where the VIP is one of the
 * VRRP addresses. Packets the engine steers never reach it; other traffic to the VIP (ping, ssh to
 * a port no service uses) is untouched. It is written at VRRP start and whenever the rules change,
 * removed on a clean stop, and survives a crash by design. `nft` runs as a child process, off the
 * packet path; without nft the guard is reported missing once and the director runs without it.
 */
import { spawnSync } from "node:child_process";
import type { Logger } from "pino";
import type { IpAddr } from "../../core/address.js";
import type { VirtualService } from "../../core/service.js";

const TABLE = "tslvs_vip_guard";
const PROTO: Record<number, string> = { 6: "tcp", 17: "udp", 132: "sctp" };

/** The rules for `services` on `vips`: one per (VIP, protocol, port); a port-0 service takes all ports. */
export function guardRules(vips: readonly IpAddr[], services: readonly VirtualService[]): string[] {
  const keys = new Set(vips.map((v) => v.toString()));
  const out: string[] = [];
  for (const s of services) {
    const k = s.key;
    if (k.kind !== "addr" || !keys.has(k.addr.toString())) continue;
    const proto = PROTO[k.protocol];
    if (!proto) continue;
    const family = k.addr.family === 6 ? "ip6" : "ip";
    out.push(
      `${family} daddr ${k.addr} ${k.port === 0 ? `meta l4proto ${proto}` : `${proto} dport ${k.port}`} drop`,
    );
  }
  return out;
}

export class VipGuard {
  private warned = false;
  private last = "";

  constructor(private readonly log: Logger) {}

  /** Writes the guard for `vips` and `services` (replacing the previous one, atomically). */
  update(vips: readonly IpAddr[], services: readonly VirtualService[]): void {
    const rules = guardRules(vips, services);
    const text = [
      `table inet ${TABLE}`,
      `delete table inet ${TABLE}`,
      `table inet ${TABLE} {`,
      "  chain input {",
      "    type filter hook input priority 0; policy accept;",
      ...rules.map((r) => `    ${r}`),
      "  }",
      "}",
      "",
    ].join("\n");
    if (text === this.last) return;
    if (this.nft(["-f", "-"], text)) this.last = text;
  }

  /** Removes the guard (a clean stop: the VIPs go too). */
  remove(): void {
    this.nft(["-f", "-"], `table inet ${TABLE}\ndelete table inet ${TABLE}\n`);
    this.last = "";
  }

  private nft(args: string[], input: string): boolean {
    const r = spawnSync("nft", args, { input, encoding: "utf8", timeout: 5000 });
    if (r.status === 0) return true;
    if (!this.warned) {
      this.warned = true;
      this.log.warn(
        { err: r.error?.message ?? r.stderr?.trim() },
        "VIP guard not written (nft): a crashed director's kernel may answer its VIPs with resets",
      );
    }
    return false;
  }
}
