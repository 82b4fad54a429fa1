/**
 * The director's virtual services, found the way the kernel finds them (ip_vs_ctl.c): by
 * (family, protocol, address, port) and by (family, firewall mark). Lookups on the packet path take
 * the address as words and allocate nothing.
 */
import type { Family, IpAddr } from "./address.js";
import type { ServiceKey, VirtualService } from "./service.js";

function mixKey(h: number, k: number): number {
  h = Math.imul(h ^ k, 0x9e3779b1);
  return (h ^ (h >>> 15)) | 0;
}

function addrKey(family: number, protocol: number, w: ArrayLike<number>, port: number): number {
  let h = mixKey(family, protocol);
  h = mixKey(h, w[0]!);
  if (family === 6) {
    h = mixKey(h, w[1]!);
    h = mixKey(h, w[2]!);
    h = mixKey(h, w[3]!);
  }
  return mixKey(h, port);
}

function sameWords(family: number, a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a[0]! >>> 0 !== b[0]! >>> 0) return false;
  return (
    family === 4 ||
    (a[1]! >>> 0 === b[1]! >>> 0 && a[2]! >>> 0 === b[2]! >>> 0 && a[3]! >>> 0 === b[3]! >>> 0)
  );
}

export function serviceKeyEquals(a: ServiceKey, b: ServiceKey): boolean {
  if (a.kind === "addr" && b.kind === "addr")
    return a.protocol === b.protocol && a.port === b.port && a.addr.equals(b.addr);
  if (a.kind === "fwmark" && b.kind === "fwmark") return a.family === b.family && a.fwmark === b.fwmark;
  return false;
}

export const FTP_PORT = 21;
export const FTP_DATA_PORT = 20;

export class ServiceTable {
  private readonly ordered = new Map<number, VirtualService>();
  private readonly byAddr = new Map<number, VirtualService[]>();
  private readonly byMark = new Map<number, VirtualService[]>();
  /** Services on port 21 and on port 0: they widen the packet-path lookup (kernel counters). */
  ftpServices = 0;
  nullServices = 0;

  get size(): number {
    return this.ordered.size;
  }

  /** Services in the order they were added. */
  all(): IterableIterator<VirtualService> {
    return this.ordered.values();
  }

  add(svc: VirtualService): void {
    this.ordered.set(svc.id, svc);
    const { map, key } = this.slot(svc.key);
    const list = map.get(key);
    if (list) list.push(svc);
    else map.set(key, [svc]);
    if (svc.port === FTP_PORT) this.ftpServices++;
    else if (svc.port === 0) this.nullServices++;
  }

  remove(svc: VirtualService): void {
    if (!this.ordered.delete(svc.id)) return;
    const { map, key } = this.slot(svc.key);
    const list = map.get(key);
    if (list) {
      const at = list.indexOf(svc);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) map.delete(key);
    }
    if (svc.port === FTP_PORT) this.ftpServices--;
    else if (svc.port === 0) this.nullServices--;
  }

  private slot(k: ServiceKey): { map: Map<number, VirtualService[]>; key: number } {
    if (k.kind === "fwmark") return { map: this.byMark, key: mixKey(k.family, k.fwmark) };
    return { map: this.byAddr, key: addrKey(k.addr.family, k.protocol, k.addr.words, k.port) };
  }

  find(k: ServiceKey): VirtualService | undefined {
    if (k.kind === "fwmark") return this.findMark(k.family, k.fwmark);
    return this.findAddr(k.addr.family, k.protocol, k.addr.words, k.port);
  }

  findAddr(family: number, protocol: number, w: ArrayLike<number>, port: number): VirtualService | undefined {
    const list = this.byAddr.get(addrKey(family, protocol, w, port));
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      const k = s.key;
      if (
        k.kind === "addr" &&
        k.protocol === protocol &&
        k.port === port &&
        k.addr.family === family &&
        sameWords(family, k.addr.words, w)
      )
        return s;
    }
    return undefined;
  }

  findMark(family: number, fwmark: number): VirtualService | undefined {
    const list = this.byMark.get(mixKey(family, fwmark));
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.key.kind === "fwmark" && s.key.family === family && s.key.fwmark === fwmark) return s;
    }
    return undefined;
  }
}

export type { Family, IpAddr };
