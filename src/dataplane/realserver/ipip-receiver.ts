import type { IpAddr } from "../../core/address.js";
import { get16, get32 } from "../../net/bytes.js";
import { ECN_DROP, ecnDecapsulate } from "../../net/ecn-decapsulate.js";
import { PROTO_IPIP, PROTO_IPV6 } from "../../net/ip.js";
import { IPV6_DST_OFF, IPV6_HEADER_LEN, IPV6_PAYLOAD_LEN_OFF } from "../../net/ipv6.js";
import { ParsedFrame, parseFrame } from "../../net/parse.js";
import { PARSE_OK } from "../../net/reason.js";
import { TunnelInner, tunnelInner } from "../../net/tunnel-decap.js";
import { closeFd } from "../../platform/bpf.js";
import type { TunDevice } from "../../platform/tun-device.js";
import { readInterfaces } from "../host-net.js";
import { Ipv6Map } from "../ipv6-map.js";
import { attachXdp, type ProgramAttachment, type XdpAttachMode } from "../xdp/attach.js";
import { PacketLoop } from "../xdp/packet-loop.js";
import { openQueueSockets } from "../xdp/queue-sockets.js";
import { Umem } from "../xdp/umem.js";
import { FrameBatch, type XskSocket } from "../xdp/xsk-socket.js";
import { IpipSteeringMaps, type IpipXdpCounts } from "./ipip-steering-maps.js";
import { loadIpipSteeringProgram } from "./ipip-steering-program.js";

export interface IpipReceiverOptions {
  /** Interfaces the IPIP packets arrive on. */
  interfaces: string[];
  /** The virtual addresses (IPv4 and IPv6) this host serves: only packets to them are delivered. */
  vips: IpAddr[];
  /** Where the inner packets go. */
  tun: TunDevice;
  /** Default native-or-generic: the real server's program runs at XDP only (there is no tc mode here). */
  xdpMode?: XdpAttachMode;
  /** GUE packets (UDP to this port) are taken too (`--tun-type gue --tun-port N`). */
  guePort?: number;
  /** GRE packets (protocol 47) are taken too (`--tun-type gre`). */
  gre?: boolean;
}

/** What the receiver did with the tunnel packets to the host, in XDP and in user space together. */
export class IpipReceiverCounters {
  received = 0;
  delivered = 0;
  /** Of those delivered, how many the XDP program unwrapped itself (the rest went through the TUN device). */
  inXdp = 0;
  /** Inner packet not addressed to one of the VIPs (a host must not relay for anyone). */
  notForVip = 0;
  malformed = 0;
  tunRefused = 0;
  /** Congestion-marked (CE) outer around an inner packet without ECN: dropped (RFC 6040). */
  ecnDropped = 0;
  /** Of those received, GUE or GRE packets (always unwrapped in user space). */
  encapsulated = 0;
}

interface Port {
  sockets: XskSocket[];
  xsks: number;
  prog: number;
  attachment: ProgramAttachment;
}

const BATCH = 64;

/**
 * The TUN real server's receive side: an XDP program takes tunnel packets addressed to the host away
 * from the kernel — IPv4 or IPv6 outside (protocol / next header 4 or 41), IPv4 or IPv6 inside, every
 * pairing LVS sends. It unwraps the common case itself and passes the inner packet to the host's
 * stack, or drops it when it is for no VIP; the rest comes here through AF_XDP sockets, and each
 * packet's inner packet, if it is for one of the VIPs, is written into a TUN device. Either way the
 * host's stack receives the inner packet as the kernel's ipip, sit or ip6_tunnel module would have
 * delivered it. Replies leave by the host's normal routes.
 *
 * With `guePort` / `gre`, GUE and GRE packets to the host are taken as well (the kernel's fou and
 * ip_gre modules would take them), always in user space (net/tunnel-decap.ts checks them), and their
 * inner packets delivered the same way.
 */
export class IpipReceiver {
  /** What user space did with the frames it took. */
  private readonly user = new IpipReceiverCounters();
  private readonly ports: Port[] = [];
  private readonly parsed = new ParsedFrame();
  private readonly batch = new FrameBatch(BATCH);
  private readonly vips: Set<number>;
  private readonly vips6 = new Ipv6Map<true>();
  private readonly base: number;
  private loop: PacketLoop | null = null;
  private running: Promise<void> | null = null;
  private maps: IpipSteeringMaps | null = null;
  /** The XDP program's counts as last read (kept when the maps close). */
  private xdp: IpipXdpCounts = { decapsulated: 0, notForVip: 0 };

  private constructor(
    private readonly umem: Umem,
    private readonly opts: IpipReceiverOptions,
  ) {
    this.vips = new Set(opts.vips.filter((v) => v.family === 4).map((v) => v.v4Value));
    for (const v of opts.vips) if (v.family === 6) this.vips6.set(v, true);
    this.base = Number(umem.memory.address);
  }

  static async start(opts: IpipReceiverOptions): Promise<IpipReceiver> {
    if (opts.interfaces.length === 0) throw new Error("no interface to receive tunnel packets on");
    const host = await readInterfaces();
    const r = new IpipReceiver(new Umem({ frames: 4096, frameSize: 2048 }), opts);
    try {
      const maps = IpipSteeringMaps.create();
      r.maps = maps;
      for (const i of host) for (const a of i.addrs) maps.addHostAddress(a.addr);
      for (const v of opts.vips) maps.addVip(v);
      for (const name of opts.interfaces) {
        if (!host.some((i) => i.name === name)) throw new Error(`no interface named ${name}`);
        r.addPort(name);
      }
    } catch (e) {
      r.release();
      throw e;
    }
    r.loop = new PacketLoop(
      () => r.step(),
      r.ports.flatMap((p) => p.sockets),
      { idleTimeoutMs: 5 },
    );
    r.running = r.loop.run();
    return r;
  }

  private addPort(ifname: string): void {
    const { sockets, xsksMap: xsks } = openQueueSockets(
      ifname,
      this.umem,
      this.ports[0]?.sockets[0],
      "tslvs_rs_xsks",
    );
    const prog = loadIpipSteeringProgram(
      { ...this.maps!.fds, xsks },
      { guePort: this.opts.guePort ?? 0, gre: this.opts.gre ?? false },
    );
    const attachment = attachXdp(prog, ifname, this.opts.xdpMode ?? "native-or-generic");
    for (const s of sockets) s.refill();
    this.ports.push({ sockets, xsks, prog, attachment });
  }

  /** The tunnel packets received so far: the XDP program's work plus user space's. */
  get counters(): IpipReceiverCounters {
    if (this.maps) this.xdp = this.maps.counts();
    const c = new IpipReceiverCounters();
    const u = this.user;
    c.received = u.received + this.xdp.decapsulated + this.xdp.notForVip;
    c.delivered = u.delivered + this.xdp.decapsulated;
    c.inXdp = this.xdp.decapsulated;
    c.notForVip = u.notForVip + this.xdp.notForVip;
    c.malformed = u.malformed;
    c.tunRefused = u.tunRefused;
    c.ecnDropped = u.ecnDropped;
    c.encapsulated = u.encapsulated;
    return c;
  }

  /** How each interface's program is attached ("native" / "generic"). */
  get modes(): string[] {
    return this.ports.map((p) => `${p.attachment.ifname}: ${p.attachment.mode}`);
  }

  private step(): number {
    const bytes = this.umem.bytes;
    const f = this.parsed;
    let handled = 0;
    for (const port of this.ports) {
      for (const rx of port.sockets) {
        rx.refill();
        const n = rx.receive(this.batch);
        for (let k = 0; k < n; k++) {
          const addr = this.batch.addrs[k]!;
          this.deliver(bytes, f, addr, this.batch.lens[k]!);
          this.umem.free(addr);
        }
        handled += n;
        this.user.received += n;
      }
    }
    return handled;
  }

  private deliver(bytes: Uint8Array, f: ParsedFrame, addr: number, len: number): void {
    if (parseFrame(bytes, addr, len, f) !== PARSE_OK || f.family === 0 || f.fragment !== 0) {
      this.user.malformed++;
      return;
    }
    // The inner packet: IPv4 under protocol 4, IPv6 under 41, whatever the outer family; or behind
    // a GUE or GRE header, of the family that header says.
    let inner: number;
    let innerV4: boolean;
    if (f.protocol === PROTO_IPIP || f.protocol === PROTO_IPV6) {
      inner = f.l4Off;
      innerV4 = f.protocol === PROTO_IPIP;
    } else if (tunnelInner(bytes, f, this.opts.guePort ?? 0, this.opts.gre ?? false, this.found) >= 0) {
      inner = this.found.off;
      innerV4 = this.found.v4;
      this.user.encapsulated++;
    } else {
      this.user.malformed++;
      return;
    }
    const room = f.l4Off + f.l4Len - inner;
    const minLen = innerV4 ? 20 : IPV6_HEADER_LEN;
    if (room < minLen || bytes[inner]! >>> 4 !== (innerV4 ? 4 : 6)) {
      this.user.malformed++;
      return;
    }
    const innerLen = innerV4
      ? get16(bytes, inner + 2)
      : IPV6_HEADER_LEN + get16(bytes, inner + IPV6_PAYLOAD_LEN_OFF);
    if (innerLen < minLen || innerLen > room) {
      this.user.malformed++;
      return;
    }
    const forVip = innerV4
      ? this.vips.has(get32(bytes, inner + 16))
      : this.vips6.has(this.innerDst(bytes, inner + IPV6_DST_OFF));
    if (!forVip) {
      this.user.notForVip++;
      return;
    }
    // A congestion mark on the outer header is carried inside (the XDP program leaves such packets here).
    if (ecnDecapsulate(bytes, f.l3Off, f.family === 4, inner, innerV4) === ECN_DROP) {
      this.user.ecnDropped++;
      return;
    }
    if (this.opts.tun.writeAt(this.base + inner, innerLen)) this.user.delivered++;
    else this.user.tunRefused++;
  }

  private readonly found = new TunnelInner();

  /** The IPv6 address at bytes[off..off+16) as words, in a reused array. */
  private innerDst(bytes: Uint8Array, off: number): Uint32Array {
    const w = this.dst6;
    for (let k = 0; k < 4; k++) w[k] = get32(bytes, off + 4 * k);
    return w;
  }

  private readonly dst6 = new Uint32Array(4);

  private release(): void {
    for (const p of this.ports) {
      try {
        p.attachment.detach();
      } catch {
        /* interface gone */
      }
      for (const s of p.sockets) s.close();
      closeFd(p.prog);
      closeFd(p.xsks);
    }
    this.ports.length = 0;
    if (this.maps) {
      this.xdp = this.maps.counts();
      this.maps.close();
      this.maps = null;
    }
  }

  /** Detaches the program, closes the sockets and frees the frame area. */
  async stop(): Promise<void> {
    this.loop?.stop();
    await this.running?.catch(() => undefined);
    this.release();
    this.umem.destroy();
  }
}
