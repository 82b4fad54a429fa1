/**
 * The steering program, generated as eBPF bytecode for XDP or for TC ingress (the tc mode; what
 * differs is in bpf/hook-abi.ts and below). It decides, per received frame, whether the frame
 * belongs to tslvs (XDP: redirect it into the AF_XDP socket of its RX queue through the XSKMAP; TC:
 * into the receive path of the interface's slow-path veth, whose XDP program does that) or to the
 * host (XDP_PASS / TCX_NEXT, untouched: ARP, ssh to the director, everything not for a virtual service).
 *
 * Steered (map layouts in steering-layout.ts):
 *  - TCP/UDP/SCTP to (VIP, port) in `services`, or to (VIP, 0) — a port-0 service;
 *  - TCP/UDP/SCTP from (RIP, port) in `replies` — NAT and FULLNAT replies from real servers —
 *    unless addressed to one of the host's own addresses (in `local_ports`) on a port outside its
 *    FULLNAT range: that answers a socket of the host (a health checker's connection to RIP:port),
 *    since NAT replies go to clients and FULLNAT replies to a LIP port in the range;
 *  - TCP/UDP/SCTP that no service takes by address, and that the firewall-mark rules (the host's
 *    nftables prerouting rules, compiled; mark-program.ts) mark with a firewall-mark service's mark
 *    (`marks`, by mark and family);
 *  - TCP/UDP/SCTP to a LIP in `local_ports` with the destination port in its range (FULLNAT replies);
 *  - IPv4 fragments to a VIP / from a real server / to a LIP (the address-only `(0, addr, 0)` entries),
 *    since later fragments carry no ports: the slow path reassembles or drops them. A fragment from
 *    a real server to a host address that is no LIP (empty range) passes, as no reply to a client
 *    goes there; one to a LIP is steered (its ports are unknown);
 *  - ICMP errors (destination unreachable, time exceeded, parameter problem) whose quoted packet
 *    came from a service (quoted source in `services`) or went to a real server (quoted destination
 *    in `replies`, unless its quoted source is a host address and port outside the FULLNAT range:
 *    an error about the host's own packet), which IPVS relays to the other side of the connection;
 *    and those about an IPIP packet whose inner quoted packet went to a service (a router could not
 *    deliver one of the director's LVS-TUN packets: the director learns the path MTU and tells the
 *    client);
 * IPv6 is steered the same way from the IPv6 twins of those maps (services6, replies6,
 * local_ports6), after skipping up to three hop-by-hop / routing / destination-options headers; a
 * fragment header steers by address; ICMPv6 errors (types 1-4) by the quoted packet.
 *
 * Passed: everything else, including replies from real servers to the host's own sockets (above),
 * ICMP echo to a VIP (the host answers ping), neighbour
 * discovery, frames with a truncated or invalid IP header (the host's stack drops and counts
 * those), and frames whose
 * destination MAC is not the receiving interface's own (registered in `if_macs`): copies of
 * frames meant for another host, flooded by a switch.
 *
 * Ethernet with at most one VLAN tag (802.1Q or 802.1ad) is parsed; IPv4 options are skipped by IHL.
 *
 */

import { AttachType, ProgType, progLoad } from "../../platform/bpf.js";
import { BpfAsm, Helper, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, type Reg } from "../bpf/asm.js";
import { emitIncrement } from "../bpf/emit-increment.js";
import {
  type HookAbi,
  SKB_LEN,
  TC_ABI,
  TC_PULL_BYTES,
  XDP_ABI,
  XDP_RX_QUEUE_INDEX,
} from "../bpf/hook-abi.js";
import { emitFastPath, type FastPathMapFds } from "../fastpath/fast-path-program.js";
import { emitFastPath6 } from "../fastpath/fast-path-program-ipv6.js";
import { hasMarkHooks, type MarkProgram } from "../marks/mark-rules.js";
import { emitMarkRules } from "./mark-program.js";
import {
  STEER_KEY_PORT,
  STEER_KEY_PROTO,
  STEER_KEY6_PORT,
  STEER_KEY6_PROTO,
  SteerCounter,
} from "./steering-layout.js";

export interface SteeringMapFds {
  services: number;
  replies: number;
  localPorts: number;
  services6: number;
  replies6: number;
  localPorts6: number;
  /** XSKMAP: RX queue index -> AF_XDP socket. */
  xsks: number;
  /** PERCPU_ARRAY of u64 counters (SteerCounter). */
  counters: number;
  /** ifindex -> the interface's own MAC: only frames addressed to it are steered. */
  ifMacs: number;
  /** (mark, family) of every firewall-mark service (steering-layout.ts). */
  marks: number;
}

export interface SteeringProgramOptions {
  /**
   * What happens to a steered frame when no AF_XDP socket is bound for its RX queue:
   * "pass" hands it to the host; "drop" discards it (clients retransmit; useful while a daemon
   * restarts, so the host does not answer a VIP's connections with resets).
   */
  missAction?: "pass" | "drop";
  /**
   * The fast path's maps: when given, established flows found in them are rewritten and
   * redirected in XDP before any steering lookup (src/dataplane/fastpath/fast-path-program.ts).
   */
  fastPath?: FastPathMapFds;
  /**
   * Where the program runs. Default "xdp": steered frames go to the AF_XDP socket of their RX queue
   * (`xsks`). `{ tc: ifindex }`: the program runs at TC ingress (a tcx link) and steered frames are
   * transmitted on that interface — the peer end of tslvs's slow-path veth, which segments GSO/GRO
   * aggregates in software (its gso_max_segs is 1) and delivers the frames to the other end, whose
   * XDP program hands them to the AF_XDP sockets (docs/decisions/0850-tc-ingress-fast-path.md); with
   * missAction "drop" they are dropped there instead. `xsks` is not used then.
   */
  hook?: "xdp" | { tc: number };
  /**
   * XDP only: frames longer than this many bytes are passed at once, before any lookup. Generic
   * XDP runs after GRO and gets aggregates no AF_XDP frame can hold; passed, they go on to the TC
   * ingress program, which takes them whole or segments them (engine.ts, generic mode).
   */
  passLongerThan?: number;
  /**
   * The firewall-mark rules (the host's nftables prerouting rules and the config's): a TCP/UDP/SCTP
   * packet no address service takes is steered when they mark it with a firewall-mark service's
   * mark (xdp/mark-program.ts). Without rules, or none for a family, nothing is evaluated.
   */
  marks?: MarkProgram;
}

const ETH_HLEN = 14;
const VLAN_HLEN = 4;
// EtherTypes and flags as a little-endian u16 load of their network-order bytes reads them.
const ETH_P_IP_LE = 0x0008;
const ETH_P_IPV6_LE = 0xdd86;
const ETH_P_8021Q_LE = 0x0081;
const ETH_P_8021AD_LE = 0xa888;
const IP_FRAG_MASK_LE = 0xff3f; // MF | fragment offset (0x3fff in network order)

const IPPROTO_ICMP = 1;
const IPPROTO_IPIP = 4;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;
const IPPROTO_ICMPV6 = 58;
const IPV6_HOPOPTS = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_DSTOPTS = 60;
/** Extension headers (hop-by-hop, routing, destination options) skipped before giving up. */
const IPV6_MAX_EXT_HEADERS = 3;

// IPv4 header fields.
const IP_FRAG = 6;
const IP_PROTO = 9;
const IP_SADDR = 12;
const IP_DADDR = 16;

// IPv6 header fields.
const IP6_HLEN = 40;
const IP6_NEXT = 6;
const IP6_SADDR = 8;
const IP6_DADDR = 24;

// Stack slots (below the frame pointer r10).
const KEY = -8; // 8-byte services/replies key
const LOCAL_KEY = -16; // 4-byte local_ports key
const COUNTER_KEY = -24; // 4-byte counters index
const IFMAC_KEY = -32; // 4-byte if_macs key
const KEY6 = -56; // 20-byte services6/replies6 key
const LOCAL6_KEY = -80; // 16-byte local_ports6 key
const MARK = -84; // the running firewall mark (mark-program.ts)
const MARK_KEY = -96; // 8-byte marks key

/**
 * Register use: r6 = ctx, r7 = IP header, r8 = L4 header, r9 = L4 protocol (at the steering tail:
 * the counter id). Helper calls clobber r0-r5 only, and the packet pointers in r7/r8 stay valid
 * across map lookups.
 */
const CTX = R6;
const IPH = R7;
const L4 = R8;
const PROTO = R9;

class Generator {
  readonly a = new BpfAsm();
  private seq = 0;
  /** Whether the firewall-mark rules can steer (then hit_fwmark is emitted). */
  private fwmarkUsed = false;

  private readonly abi: HookAbi;

  constructor(
    private readonly fds: SteeringMapFds,
    private readonly missDrop: boolean,
    private readonly fastPath: FastPathMapFds | null,
    /** TC: the slow-path veth's end steered frames are transmitted on; null for XDP. */
    private readonly slowIfindex: number | null,
    private readonly passLongerThan: number | null = null,
    private readonly markRules: MarkProgram | null = null,
  ) {
    this.abi = slowIfindex === null ? XDP_ABI : TC_ABI;
  }

  private fresh(prefix: string): string {
    this.seq += 1;
    return `${prefix}_${this.seq}`;
  }

  /** counters[id] += 1 (per-CPU, so a plain add is exact); id is a constant or a register. Clobbers r0-r5. */
  count(id: number | { reg: Reg }): void {
    const skip = this.fresh("count_done");
    if (typeof id === "number") this.a.st("u32", R10, COUNTER_KEY, id);
    else this.a.stx("u32", R10, COUNTER_KEY, id.reg);
    emitIncrement(this.a, this.fds.counters, COUNTER_KEY, skip);
  }

  /**
   * Builds a services/replies key from the packet — the address (4 or 16 bytes) at addrBase+addrOff,
   * the port at portBase+portOff (0 when portBase is null), the protocol from r9 (0 when withProto
   * is false) — looks it up in `mapFd`, and jumps to `hit` when present.
   */
  lookup(
    family: 4 | 6,
    mapFd: number,
    addrBase: Reg,
    addrOff: number,
    portBase: Reg | null,
    portOff: number,
    withProto: boolean,
    hit: string,
  ): void {
    const a = this.a;
    const key = family === 4 ? KEY : KEY6;
    const portAt = key + (family === 4 ? STEER_KEY_PORT : STEER_KEY6_PORT);
    const protoAt = key + (family === 4 ? STEER_KEY_PROTO : STEER_KEY6_PROTO);
    for (let w = 0; w < (family === 4 ? 1 : 4); w++) {
      a.ldx("u32", R1, addrBase, addrOff + 4 * w).stx("u32", R10, key + 4 * w, R1);
    }
    if (portBase === null) a.st("u16", R10, portAt, 0);
    else a.ldx("u16", R1, portBase, portOff).stx("u16", R10, portAt, R1);
    if (withProto) a.stx("u8", R10, protoAt, PROTO);
    else a.st("u8", R10, protoAt, 0);
    a.st("u8", R10, protoAt + 1, 0);
    a.mov64Reg(R2, R10)
      .add64Imm(R2, key)
      .ldMapFd(R1, mapFd)
      .call(Helper.mapLookupElem)
      .jmpImm("jne", R0, 0, hit);
  }

  /** Looks the address at IPH+addrOff up in local_ports(6); leaves the value pointer (or 0) in r0. */
  lookupLocal(family: 4 | 6, addrOff: number): void {
    const a = this.a;
    const key = family === 4 ? LOCAL_KEY : LOCAL6_KEY;
    for (let w = 0; w < (family === 4 ? 1 : 4); w++) {
      a.ldx("u32", R1, IPH, addrOff + 4 * w).stx("u32", R10, key + 4 * w, R1);
    }
    a.mov64Reg(R2, R10)
      .add64Imm(R2, key)
      .ldMapFd(R1, family === 4 ? this.fds.localPorts : this.fds.localPorts6)
      .call(Helper.mapLookupElem);
  }

  /**
   * r0 = a local_ports value (not null): jumps to `outside` unless the port at L4+portOff is inside
   * its range — always, for a host address that is no LIP (its range is empty). Clobbers r1-r3.
   */
  portOutsideRange(portOff: number, outside: string): void {
    this.a
      .ldx("u16", R1, R0, 0)
      .ldx("u16", R2, R0, 2)
      .ldx("u16", R3, L4, portOff)
      .be(R3, 16)
      .jmpReg("jlt", R3, R1, outside)
      .jmpReg("jgt", R3, R2, outside);
  }

  /** r0 = a local_ports value (not null): jumps to `target` when it is a host address, no LIP. */
  ifHostOnly(target: string): void {
    this.a.ldx("u16", R1, R0, 0).ldx("u16", R2, R0, 2).jmpReg("jgt", R1, R2, target);
  }

  /**
   * TCP/UDP/SCTP that is no service's: a reply from a real server, or a packet to a LIP port. A
   * reply to a host address on a port outside the FULLNAT range answers a socket of the host (a
   * health checker's connection to RIP:port) and passes.
   */
  repliesAndLocals(family: 4 | 6, replies: number): void {
    const a = this.a;
    const [saddr, daddr] = family === 4 ? [IP_SADDR, IP_DADDR] : [IP6_SADDR, IP6_DADDR];
    const reply = `reply${family}`;
    this.lookup(family, replies, IPH, saddr, L4, 0, true, reply);
    this.lookupLocal(family, daddr);
    a.jmpImm("jeq", R0, 0, "no_match");
    this.portOutsideRange(2, "no_match");
    a.ja("hit_local").label(reply);
    this.lookupLocal(family, daddr);
    a.jmpImm("jeq", R0, 0, "hit_reply");
    this.portOutsideRange(2, "pass_to_host");
    a.ja("hit_reply");
  }

  /**
   * Fragments, by address only. One from a real server to a host address that is no LIP passes
   * (no reply to a client goes there); to a LIP it is steered, its ports unknown. Only LIPs (a
   * non-empty range) make a fragment ours by its destination.
   */
  fragments(family: 4 | 6, services: number, replies: number): void {
    const a = this.a;
    const [saddr, daddr] = family === 4 ? [IP_SADDR, IP_DADDR] : [IP6_SADDR, IP6_DADDR];
    const reply = `fragment_reply${family}`;
    this.lookup(family, services, IPH, daddr, null, 0, false, "hit_fragment");
    this.lookup(family, replies, IPH, saddr, null, 0, false, reply);
    this.lookupLocal(family, daddr);
    a.jmpImm("jeq", R0, 0, "no_match");
    this.ifHostOnly("no_match");
    a.ja("hit_fragment").label(reply);
    this.lookupLocal(family, daddr);
    a.jmpImm("jeq", R0, 0, "hit_fragment");
    this.ifHostOnly("pass_to_host");
    a.ja("hit_fragment");
  }

  /**
   * An ICMP error whose quoted packet (at IPH / L4) went to a real server's port: ours, unless the
   * host sent it — quoted source a host address, source port outside the FULLNAT range (a health
   * checker's probe); then the host's socket gets the error.
   */
  icmpAboutReply(family: 4 | 6, replies: number): void {
    const a = this.a;
    const [saddr, daddr] = family === 4 ? [IP_SADDR, IP_DADDR] : [IP6_SADDR, IP6_DADDR];
    const toRs = `icmp_to_rs${family}`;
    this.lookup(family, replies, IPH, daddr, L4, 2, true, toRs);
    a.ja("no_match").label(toRs);
    this.lookupLocal(family, saddr);
    a.jmpImm("jeq", R0, 0, "hit_icmp");
    this.portOutsideRange(0, "pass_to_host");
    a.ja("hit_icmp");
  }

  /** The firewall-mark rules for `family`, when there are any: steered to hit_fwmark, else on. */
  marks(family: 4 | 6): void {
    const rules = this.markRules;
    if (rules === null || !hasMarkHooks(rules, family)) return;
    const miss = `fwmark_miss${family}`;
    const steers = emitMarkRules(this.a, rules, family, this.fds.marks, {
      ctx: CTX,
      iph: IPH,
      l4: L4,
      proto: PROTO,
      abi: this.abi,
      markSlot: MARK,
      keySlot: MARK_KEY,
      hit: "hit_fwmark",
      miss,
    });
    this.fwmarkUsed = this.fwmarkUsed || steers;
    this.a.label(miss);
  }

  /** Jumps to `target` when r9 is TCP, UDP or SCTP (the protocols with ports where IPVS has them). */
  ifPorts(target: string): void {
    this.a
      .jmpImm("jeq", PROTO, IPPROTO_TCP, target)
      .jmpImm("jeq", PROTO, IPPROTO_UDP, target)
      .jmpImm("jeq", PROTO, IPPROTO_SCTP, target);
  }

  /**
   * A quoted IPv4 header at IPH (inside an ICMP error): L4 = IPH + IHL * 4, with the first 4 bytes
   * there present, and PROTO = its protocol. `checkHeader`: first check that 20 bytes are present
   * at IPH (the ICMP check already covers the first quoted header).
   */
  private quotedIpv4(checkHeader: boolean): void {
    if (checkHeader) this.need(IPH, 20);
    this.a
      .ldx("u8", R1, IPH, 0)
      .alu64Imm("and", R1, 0x0f)
      .jmpImm("jlt", R1, 5, "malformed")
      .alu64Imm("lsh", R1, 2)
      .mov64Reg(L4, IPH)
      .alu64Reg("add", L4, R1);
    this.need(L4, 4);
    this.a.ldx("u8", PROTO, IPH, IP_PROTO);
  }

  /** r3 must hold data_end: jumps to "malformed" unless `reg + bytes` is inside the frame. Uses r4. */
  need(reg: Reg, bytes: number): void {
    this.a.mov64Reg(R4, reg).add64Imm(R4, bytes).jmpReg("jgt", R4, R3, "malformed");
  }

  /** Hands the frame to the host after counting why. */
  pass(label: string, counter: number): void {
    this.a.label(label);
    this.count(counter);
    this.a.mov64Imm(R0, this.abi.pass).exit();
  }

  /** Remembers why the frame is to be steered (in r9) and goes to the common steering tail. */
  steer(label: string, counter: number): void {
    this.a.label(label).mov64Imm(PROTO, counter).ja("steer");
  }

  build(): Uint8Array {
    const a = this.a;
    const { services, replies } = this.fds;

    // ---- Ethernet (+ one VLAN tag) ----
    a.mov64Reg(CTX, R1);
    if (this.abi.hook === "tc") {
      // An skb's headers may lie partly outside its linear part, which is all a program can read
      // directly: pull up to TC_PULL_BYTES in when they are not there (rare: most drivers put them
      // there). A failed pull leaves the frame as it was; the bounds checks below decide.
      a.ldx("u32", R2, CTX, this.abi.data)
        .ldx("u32", R3, CTX, this.abi.dataEnd)
        .mov64Reg(R4, R2)
        .add64Imm(R4, TC_PULL_BYTES)
        .jmpReg("jle", R4, R3, "linear")
        .ldx("u32", R5, CTX, SKB_LEN)
        .jmpImm("jgt", R5, TC_PULL_BYTES, "pull_most")
        .mov64Reg(R4, R2)
        .alu64Reg("add", R4, R5)
        .jmpReg("jle", R4, R3, "linear")
        .mov64Reg(R2, R5)
        .ja("pull")
        .label("pull_most")
        .mov64Imm(R2, TC_PULL_BYTES)
        .label("pull")
        .mov64Reg(R1, CTX)
        .call(Helper.skbPullData)
        .label("linear");
    }
    if (this.passLongerThan !== null && this.abi.hook === "xdp") {
      a.ldx("u32", R2, CTX, this.abi.data)
        .ldx("u32", R3, CTX, this.abi.dataEnd)
        .mov64Reg(R4, R2)
        .add64Imm(R4, this.passLongerThan)
        .jmpReg("jle", R3, R4, "not_oversize")
        .mov64Imm(R0, this.abi.pass)
        .exit()
        .label("not_oversize");
    }
    a.ldx("u32", R2, CTX, this.abi.data)
      .ldx("u32", R3, CTX, this.abi.dataEnd)
      .mov64Reg(IPH, R2)
      .add64Imm(IPH, ETH_HLEN)
      .jmpReg("jgt", IPH, R3, "malformed")
      .ldx("u16", R1, R2, 12)
      .jmpImm("jeq", R1, ETH_P_8021Q_LE, "vlan")
      .jmpImm("jeq", R1, ETH_P_8021AD_LE, "vlan")
      .ja("ethertype")
      .label("vlan")
      .mov64Reg(IPH, R2)
      .add64Imm(IPH, ETH_HLEN + VLAN_HLEN)
      .jmpReg("jgt", IPH, R3, "malformed")
      .ldx("u16", R1, R2, 16)
      .label("ethertype")
      .jmpImm("jeq", R1, ETH_P_IPV6_LE, "ipv6")
      .jmpImm("jne", R1, ETH_P_IP_LE, "not_ip");

    // ---- IPv4 ----
    this.need(IPH, 20);
    a.ldx("u8", R1, IPH, 0)
      .mov64Reg(R2, R1)
      .alu64Imm("rsh", R2, 4)
      .jmpImm("jne", R2, 4, "malformed")
      .alu64Imm("and", R1, 0x0f)
      .jmpImm("jlt", R1, 5, "malformed")
      .alu64Imm("lsh", R1, 2)
      .mov64Reg(L4, IPH)
      .alu64Reg("add", L4, R1)
      .ldx("u8", PROTO, IPH, IP_PROTO)
      .ldx("u16", R1, IPH, IP_FRAG)
      .alu64Imm("and", R1, IP_FRAG_MASK_LE)
      .jmpImm("jne", R1, 0, "fragment")
      .jmpImm("jeq", PROTO, IPPROTO_ICMP, "icmp");
    this.ifPorts("ports");
    a.ja("no_match");

    // TCP / UDP / SCTP: services, port-0 services, replies, local ports.
    a.label("ports");
    this.need(L4, 4);
    if (this.fastPath) {
      emitFastPath(a, this.fastPath, {
        ctx: CTX,
        iph: IPH,
        l4: L4,
        proto: PROTO,
        fallThrough: "steer4",
        abi: this.abi,
      });
      a.label("steer4");
    }
    this.lookup(4, services, IPH, IP_DADDR, L4, 2, true, "hit_service");
    this.lookup(4, services, IPH, IP_DADDR, null, 0, true, "hit_service_any");
    this.marks(4);
    this.repliesAndLocals(4, replies);

    a.label("fragment");
    this.fragments(4, services, replies);

    // ICMP errors: look at the quoted packet, reversed.
    a.label("icmp");
    this.need(L4, 8 + 20);
    a.ldx("u8", R1, L4, 0)
      .jmpImm("jeq", R1, 3, "icmp_error")
      .jmpImm("jeq", R1, 11, "icmp_error")
      .jmpImm("jeq", R1, 12, "icmp_error")
      .ja("no_match")
      .label("icmp_error")
      .mov64Reg(IPH, L4)
      .add64Imm(IPH, 8);
    this.quotedIpv4(false);
    a.jmpImm("jeq", PROTO, IPPROTO_IPIP, "icmp_ipip");
    this.ifPorts("icmp_ports");
    a.ja("no_match").label("icmp_ports");
    // The quoted packet was sent by the service (source = VIP:port) or to a real server.
    this.lookup(4, services, IPH, IP_SADDR, L4, 0, true, "hit_icmp");
    this.lookup(4, services, IPH, IP_SADDR, null, 0, true, "hit_icmp");
    this.icmpAboutReply(4, replies);

    // An ICMP error about an IPIP packet (a router beyond the director could not deliver one of
    // its LVS-TUN packets): inside the quoted outer header is the client's packet to a service.
    a.label("icmp_ipip").mov64Reg(IPH, L4);
    this.quotedIpv4(true);
    this.ifPorts("icmp_ipip_ports");
    a.ja("no_match").label("icmp_ipip_ports");
    this.lookup(4, services, IPH, IP_DADDR, L4, 2, true, "hit_icmp");
    this.lookup(4, services, IPH, IP_DADDR, null, 0, true, "hit_icmp");
    a.ja("no_match");

    // ---- IPv6 ----
    const { services6, replies6 } = this.fds;
    a.label("ipv6");
    this.need(IPH, IP6_HLEN);
    a.ldx("u8", R1, IPH, 0)
      .alu64Imm("rsh", R1, 4)
      .jmpImm("jne", R1, 6, "malformed")
      .ldx("u8", PROTO, IPH, IP6_NEXT)
      .mov64Reg(L4, IPH)
      .add64Imm(L4, IP6_HLEN);
    // Skip up to IPV6_MAX_EXT_HEADERS hop-by-hop / routing / destination-options headers
    // (unrolled: the verifier wants bounded code). Each is (hdr[1] + 1) * 8 bytes long.
    for (let i = 0; i < IPV6_MAX_EXT_HEADERS; i++) {
      const skip = `ext6_skip_${i}`;
      a.jmpImm("jeq", PROTO, IPV6_HOPOPTS, skip)
        .jmpImm("jeq", PROTO, IPV6_ROUTING, skip)
        .jmpImm("jeq", PROTO, IPV6_DSTOPTS, skip)
        .ja("ext6_done")
        .label(skip);
      this.need(L4, 8);
      a.ldx("u8", R1, L4, 1)
        .add64Imm(R1, 1)
        .alu64Imm("lsh", R1, 3)
        .ldx("u8", PROTO, L4, 0)
        .alu64Reg("add", L4, R1);
    }
    a.label("ext6_done")
      .jmpImm("jeq", PROTO, IPV6_FRAGMENT, "fragment6")
      .jmpImm("jeq", PROTO, IPPROTO_ICMPV6, "icmp6");
    this.ifPorts("ports6");
    a.ja("no_match");

    a.label("ports6");
    this.need(L4, 4);
    if (this.fastPath) {
      emitFastPath6(a, this.fastPath, {
        ctx: CTX,
        iph: IPH,
        l4: L4,
        proto: PROTO,
        fallThrough: "steer6",
        abi: this.abi,
      });
      a.label("steer6");
    }
    this.lookup(6, services6, IPH, IP6_DADDR, L4, 2, true, "hit_service");
    this.lookup(6, services6, IPH, IP6_DADDR, null, 0, true, "hit_service_any");
    this.marks(6);
    this.repliesAndLocals(6, replies6);

    a.label("fragment6");
    this.fragments(6, services6, replies6);

    // ICMPv6 errors (1 unreachable, 2 packet too big, 3 time exceeded, 4 parameter problem); the
    // quoted packet's own extension headers are not skipped. Neighbour discovery and echo pass.
    a.label("icmp6");
    this.need(L4, 8 + IP6_HLEN + 4);
    a.ldx("u8", R1, L4, 0)
      .jmpImm("jlt", R1, 1, "no_match")
      .jmpImm("jgt", R1, 4, "no_match")
      .mov64Reg(IPH, L4)
      .add64Imm(IPH, 8)
      .ldx("u8", PROTO, IPH, IP6_NEXT)
      .mov64Reg(L4, IPH)
      .add64Imm(L4, IP6_HLEN);
    this.ifPorts("icmp6_ports");
    a.ja("no_match").label("icmp6_ports");
    this.lookup(6, services6, IPH, IP6_SADDR, L4, 0, true, "hit_icmp");
    this.lookup(6, services6, IPH, IP6_SADDR, null, 0, true, "hit_icmp");
    this.icmpAboutReply(6, replies6);

    // ---- outcomes ----
    this.steer("hit_service", SteerCounter.SERVICE);
    this.steer("hit_service_any", SteerCounter.SERVICE_ANY_PORT);
    this.steer("hit_reply", SteerCounter.REPLY);
    this.steer("hit_local", SteerCounter.LOCAL_PORT);
    this.steer("hit_fragment", SteerCounter.FRAGMENT);
    this.steer("hit_icmp", SteerCounter.ICMP_ERROR);
    if (this.fwmarkUsed) this.steer("hit_fwmark", SteerCounter.FWMARK);
    this.pass("no_match", SteerCounter.PASS_NO_MATCH);
    this.pass("not_ip", SteerCounter.PASS_NOT_IP);
    this.pass("malformed", SteerCounter.PASS_MALFORMED);
    this.pass("other_host", SteerCounter.PASS_OTHER_HOST);
    this.pass("pass_to_host", SteerCounter.PASS_TO_HOST);

    // Steer only frames addressed to the receiving interface's own MAC, as the kernel hands IPVS
    // only PACKET_HOST frames: a copy flooded by a switch to every port (unknown unicast, e.g. a
    // frame this director just sent to a real server) must not be forwarded a second time. The
    // packet pointers are reloaded after the lookup, with a fresh bounds check.
    a.label("steer")
      .ldx("u32", R1, CTX, this.abi.ifindex)
      .stx("u32", R10, IFMAC_KEY, R1)
      .mov64Reg(R2, R10)
      .add64Imm(R2, IFMAC_KEY)
      .ldMapFd(R1, this.fds.ifMacs)
      .call(Helper.mapLookupElem)
      .jmpImm("jeq", R0, 0, "other_host")
      .ldx("u32", R2, CTX, this.abi.data)
      .ldx("u32", R3, CTX, this.abi.dataEnd)
      .mov64Reg(R4, R2)
      .add64Imm(R4, 6)
      .jmpReg("jgt", R4, R3, "malformed")
      .ldx("u32", R1, R0, 0)
      .ldx("u32", R4, R2, 0)
      .jmpReg("jne", R1, R4, "other_host")
      .ldx("u16", R1, R0, 4)
      .ldx("u16", R4, R2, 4)
      .jmpReg("jne", R1, R4, "other_host");
    this.count({ reg: PROTO });

    a.label("redirect");
    if (this.slowIfindex === null) {
      a.ldMapFd(R1, this.fds.xsks)
        .ldx("u32", R2, CTX, XDP_RX_QUEUE_INDEX)
        .mov64Imm(R3, this.missDrop ? this.abi.drop : this.abi.pass)
        .call(Helper.redirectMap)
        .exit();
    } else if (this.missDrop) {
      a.mov64Imm(R0, this.abi.drop).exit();
    } else {
      // Egress, not ingress: a transmit is where the kernel segments an aggregate the device cannot
      // take whole, and AF_XDP takes no frame larger than a UMEM chunk.
      a.mov64Imm(R1, this.slowIfindex).mov64Imm(R2, 0).call(Helper.redirect).exit();
    }
    return a.assemble();
  }
}

/** Generates the steering program for the given map fds (they are embedded in the bytecode). */
export function buildSteeringProgram(fds: SteeringMapFds, options: SteeringProgramOptions = {}): Uint8Array {
  const hook = options.hook ?? "xdp";
  return new Generator(
    fds,
    options.missAction === "drop",
    options.fastPath ?? null,
    hook === "xdp" ? null : hook.tc,
    options.passLongerThan ?? null,
    options.marks ?? null,
  ).build();
}

/** Generates and loads the steering program; returns its fd (the caller closes it). */
export function loadSteeringProgram(fds: SteeringMapFds, options: SteeringProgramOptions = {}): number {
  const tc = options.hook !== undefined && options.hook !== "xdp";
  return progLoad({
    type: tc ? ProgType.SCHED_CLS : ProgType.XDP,
    expectedAttachType: tc ? AttachType.TCX_INGRESS : undefined,
    insns: buildSteeringProgram(fds, options),
    name: "tslvs_steer",
    license: "GPL",
  });
}
