/**
 * Persistence template keys (kernel ip_vs_sched_persist): the client address masked to the
 * service's granularity, and the (protocol, vaddr, vport) the template is filed under.
 */
import { IPPROTO_IP } from "./flow.js";
import type { VirtualService } from "./service.js";
import { FTP_PORT } from "./service-table.js";

/** The persistence engine the director acts on (kernel ip_vs_pe_sip); others are only stored. */
export const PE_SIP = "sip";

/** out = client address masked: IPv4 by the 32-bit netmask, IPv6 by the prefix length. */
export function maskClient(
  family: number,
  saddr: ArrayLike<number>,
  netmask: number,
  out: Uint32Array,
): void {
  if (family === 4) {
    out[0] = (saddr[0]! & netmask) >>> 0;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    return;
  }
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(32, netmask - i * 32));
    const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    out[i] = (saddr[i]! & mask) >>> 0;
  }
}

/** A template's filing key, filled in place (no allocation per new conn). */
export class TemplateKey {
  proto = 0;
  vport = 0;
  readonly caddr = new Uint32Array(4);
  readonly vaddr = new Uint32Array(4);
}

/**
 * Fill the template key for a packet saddr -> daddr:dport of protocol `proto`:
 * - dport equals the service port: (proto, daddr, dport), except that the FTP service uses vport 0;
 * - otherwise (fwmark and port-0 services): vport 0, and a fwmark service files under
 *   protocol IP (0) with the mark as the address.
 * The client address is masked to the service's granularity; the client port is always 0.
 */
export function fillTemplateKey(
  svc: VirtualService,
  proto: number,
  family: number,
  saddr: ArrayLike<number>,
  daddr: ArrayLike<number>,
  dport: number,
  key: TemplateKey,
): void {
  maskClient(family, saddr, svc.netmask, key.caddr);
  if (dport === svc.port) {
    for (let i = 0; i < 4; i++) key.vaddr[i] = daddr[i]!;
    key.proto = proto;
    key.vport = svc.port !== FTP_PORT ? dport : 0;
  } else if (svc.key.kind === "fwmark") {
    key.vaddr.fill(0);
    key.vaddr[0] = svc.key.fwmark >>> 0;
    key.proto = IPPROTO_IP;
    key.vport = 0;
  } else {
    for (let i = 0; i < 4; i++) key.vaddr[i] = daddr[i]!;
    key.proto = proto;
    key.vport = 0;
  }
}
