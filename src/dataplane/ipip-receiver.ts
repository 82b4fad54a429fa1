import type { IpAddr } from "../core/address.js";
import { PROTO_IPIP } from "../net/ip.js";
import { ParsedFrame, parseFrame } from "../net/parse.js";
import { PARSE_OK } from "../net/reason.js";
import { closeFd, MapType, mapCreate, mapUpdate } from "./bpf/syscalls.js";
import { readInterfaces } from "./host-net.js";
import type { TunDevice } from "./sys/tun-device.js";
import { attachXdp, type XdpAttachment, type XdpMode } from "./xdp/attach.js";
import { loadIpipSteeringProgram } from "./xdp/ipip-steering-program.js";
import { PacketLoop } from "./xdp/packet-loop.js";
import { openQueueSockets } from "./xdp/queue-sockets.js";
import { Umem } from "./xdp/umem.js";
import { FrameBatch, type XskSocket } from "./xdp/xsk-socket.js";

export interface IpipReceiverOptions {
  /** Interfaces the IPIP packets arrive on. */
  interfaces: string[];
  /** The virtual IPv4 addresses this host serves: only packets to them are delivered. */
  vips: IpAddr[];
  /** Where the inner packets go. */
  tun: TunDevice;
  xdpMode?: XdpMode;
}

/** What the receiver did with the frames it took. */
export class IpipReceiverCounters {
  received = 0;
  delivered = 0;
  /** Inner packet not addressed to one of the VIPs (a host must not relay for anyone). */
  notForVip = 0;
  malformed = 0;
  tunRefused = 0;
}

interface Port {
  sockets: XskSocket[];
  xsks: number;
  prog: number;
  attachment: XdpAttachment;
}

const BATCH = 64;

/**
 * The TUN real server's receive side in user space: an XDP program takes IPIP packets addressed to
 * the host away from the kernel into AF_XDP sockets; each packet's inner IPv4 packet, if it is for one
 * of the VIPs, is written into a TUN device, so the host's stack receives it as the kernel's ipip
 * module would have delivered it (tunl0). Replies leave by the host's normal routes.
 */
export class IpipReceiver {
  readonly counters = new IpipReceiverCounters();
  private readonly ports: Port[] = [];
  private readonly parsed = new ParsedFrame();
  private readonly batch = new FrameBatch(BATCH);
  private readonly vips: Set<number>;
  private readonly base: number;
  private loop: PacketLoop | null = null;
  private running: Promise<void> | null = null;
  private addrs = -1;

  private constructor(
    private readonly umem: Umem,
    private readonly opts: IpipReceiverOptions,
  ) {
    this.vips = new Set(opts.vips.map((v) => v.v4Value));
    this.base = Number(umem.memory.address);
  }

  static async start(opts: IpipReceiverOptions): Promise<IpipReceiver> {
    if (opts.interfaces.length === 0) throw new Error("no interface to receive IPIP on");
    for (const v of opts.vips) if (v.family !== 4) throw new Error(`IPIP carries IPv4 VIPs only, not ${v}`);
    const host = await readInterfaces();
    const r = new IpipReceiver(new Umem({ frames: 4096, frameSize: 2048 }), opts);
    try {
      r.addrs = mapCreate({
        type: MapType.HASH,
        keySize: 4,
        valueSize: 1,
        maxEntries: 256,
        name: "tslvs_rs_addrs",
      });
      const key = new Uint8Array(4);
      const one = Uint8Array.of(1);
      for (const i of host) {
        for (const a of i.addrs) {
          if (a.addr.family !== 4) continue;
          new DataView(key.buffer).setUint32(0, a.addr.v4Value, false);
          mapUpdate(r.addrs, key, one);
        }
      }
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
    const prog = loadIpipSteeringProgram({ addrs: this.addrs, xsks });
    const attachment = attachXdp(prog, ifname, this.opts.xdpMode ?? "auto");
    for (const s of sockets) s.refill();
    this.ports.push({ sockets, xsks, prog, attachment });
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
        this.counters.received += n;
      }
    }
    return handled;
  }

  private deliver(bytes: Uint8Array, f: ParsedFrame, addr: number, len: number): void {
    if (parseFrame(bytes, addr, len, f) !== PARSE_OK || f.family !== 4 || f.protocol !== PROTO_IPIP) {
      this.counters.malformed++;
      return;
    }
    const inner = f.l4Off;
    if (f.l4Len < 20 || bytes[inner]! >>> 4 !== 4) {
      this.counters.malformed++;
      return;
    }
    const innerLen = (bytes[inner + 2]! << 8) | bytes[inner + 3]!;
    if (innerLen < 20 || innerLen > f.l4Len) {
      this.counters.malformed++;
      return;
    }
    const dst =
      ((bytes[inner + 16]! << 24) |
        (bytes[inner + 17]! << 16) |
        (bytes[inner + 18]! << 8) |
        bytes[inner + 19]!) >>>
      0;
    if (!this.vips.has(dst)) {
      this.counters.notForVip++;
      return;
    }
    if (this.opts.tun.writeAt(this.base + inner, innerLen)) this.counters.delivered++;
    else this.counters.tunRefused++;
  }

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
    if (this.addrs >= 0) closeFd(this.addrs);
    this.addrs = -1;
  }

  /** Detaches the program, closes the sockets and frees the frame area. */
  async stop(): Promise<void> {
    this.loop?.stop();
    await this.running?.catch(() => undefined);
    this.release();
    this.umem.destroy();
  }
}
