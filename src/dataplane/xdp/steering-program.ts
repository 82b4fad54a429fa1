/**
 * The XDP steering program, generated as eBPF bytecode. It decides, per received frame, whether the
 * frame belongs to tslvs (redirect it into the AF_XDP socket of its RX queue through the XSKMAP) or
 * to the host (XDP_PASS, untouched: ARP, ssh to the director, everything not for a virtual service).
 *
 * Steered (map layouts in steering-layout.ts):
 *  - TCP/UDP/SCTP to (VIP, port) in `services`, or to (VIP, 0) — a port-0 service;
 *  - TCP/UDP/SCTP from (RIP, port) in `replies` — NAT and FULLNAT replies from real servers;
 *  - TCP/UDP/SCTP to a LIP in `local_ports` with the destination port in its range (FULLNAT replies);
 *  - IPv4 fragments to a VIP / from a real server / to a LIP (the address-only `(0, addr, 0)` entries),
 *    since later fragments carry no ports: the slow path reassembles or drops them;
 *  - ICMP errors (destination unreachable, time exceeded, parameter problem) whose quoted packet
 *    came from a service (quoted source in `services`) or went to a real server (quoted destination
 *    in `replies`), which IPVS relays to the other side of the connection.
 * Passed: everything else, including ICMP echo to a VIP (the host answers ping), IPv6, frames with a
 * truncated or invalid IPv4 header (the host's stack drops and counts those), and frames whose
 * destination MAC is not the receiving interface's own (registered in `if_macs`): copies of
 * frames meant for another host, flooded by a switch.
 *
 * Ethernet with at most one VLAN tag (802.1Q or 802.1ad) is parsed; IPv4 options are skipped by IHL.
 */
import { BpfAsm, Helper, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10, type Reg } from "../bpf/asm.js";
import { ProgType, progLoad } from "../bpf/syscalls.js";
import { STEER_KEY_ADDR, STEER_KEY_PORT, STEER_KEY_PROTO, SteerCounter } from "./steering-layout.js";

export interface SteeringMapFds {
  services: number;
  replies: number;
  localPorts: number;
  /** XSKMAP: RX queue index -> AF_XDP socket. */
  xsks: number;
  /** PERCPU_ARRAY of u64 counters (SteerCounter). */
  counters: number;
  /** ifindex -> the interface's own MAC: only frames addressed to it are steered. */
  ifMacs: number;
}

export interface SteeringProgramOptions {
  /**
   * What happens to a steered frame when no AF_XDP socket is bound for its RX queue:
   * "pass" hands it to the host; "drop" discards it (clients retransmit; useful while a daemon
   * restarts, so the host does not answer a VIP's connections with resets).
   */
  missAction?: "pass" | "drop";
}

const XDP_DROP = 1;
const XDP_PASS = 2;

const ETH_HLEN = 14;
const VLAN_HLEN = 4;
// EtherTypes and flags as a little-endian u16 load of their network-order bytes reads them.
const ETH_P_IP_LE = 0x0008;
const ETH_P_8021Q_LE = 0x0081;
const ETH_P_8021AD_LE = 0xa888;
const IP_FRAG_MASK_LE = 0xff3f; // MF | fragment offset (0x3fff in network order)

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;

// xdp_md fields.
const MD_DATA = 0;
const MD_DATA_END = 4;
const MD_INGRESS_IFINDEX = 12;
const MD_RX_QUEUE_INDEX = 16;

// IPv4 header fields.
const IP_FRAG = 6;
const IP_PROTO = 9;
const IP_SADDR = 12;
const IP_DADDR = 16;

// Stack slots (below the frame pointer r10).
const KEY = -8; // 8-byte services/replies key
const LOCAL_KEY = -16; // 4-byte local_ports key
const COUNTER_KEY = -24; // 4-byte counters index
const IFMAC_KEY = -32; // 4-byte if_macs key

/**
 * Register use: r6 = ctx, r7 = IPv4 header, r8 = L4 header, r9 = L4 protocol. Helper calls clobber
 * r0-r5 only, and the packet pointers in r7/r8 stay valid across map lookups.
 */
const CTX = R6;
const IPH = R7;
const L4 = R8;
const PROTO = R9;

class Generator {
  readonly a = new BpfAsm();
  private seq = 0;

  constructor(
    private readonly fds: SteeringMapFds,
    private readonly missAction: number,
  ) {}

  private fresh(prefix: string): string {
    this.seq += 1;
    return `${prefix}_${this.seq}`;
  }

  /** counters[id] += 1 (per-CPU, so a plain add is exact); id is a constant or a register. Clobbers r0-r5. */
  count(id: number | { reg: Reg }): void {
    const skip = this.fresh("count_done");
    if (typeof id === "number") this.a.st("u32", R10, COUNTER_KEY, id);
    else this.a.stx("u32", R10, COUNTER_KEY, id.reg);
    this.a
      .mov64Reg(R2, R10)
      .add64Imm(R2, COUNTER_KEY)
      .ldMapFd(R1, this.fds.counters)
      .call(Helper.mapLookupElem)
      .jmpImm("jeq", R0, 0, skip)
      .ldx("u64", R1, R0, 0)
      .add64Imm(R1, 1)
      .stx("u64", R0, 0, R1)
      .label(skip);
  }

  /**
   * Builds the 8-byte key from the packet (address at addrBase+addrOff, port at portBase+portOff,
   * or 0 when portBase is null; protocol from r9, or 0 when withProto is false), looks it up, and
   * jumps to `hit` when present.
   */
  lookup(
    mapFd: number,
    addrBase: Reg,
    addrOff: number,
    portBase: Reg | null,
    portOff: number,
    withProto: boolean,
    hit: string,
  ): void {
    const a = this.a;
    a.ldx("u32", R1, addrBase, addrOff).stx("u32", R10, KEY + STEER_KEY_ADDR, R1);
    if (portBase === null) a.st("u16", R10, KEY + STEER_KEY_PORT, 0);
    else a.ldx("u16", R1, portBase, portOff).stx("u16", R10, KEY + STEER_KEY_PORT, R1);
    if (withProto) a.stx("u8", R10, KEY + STEER_KEY_PROTO, PROTO);
    else a.st("u8", R10, KEY + STEER_KEY_PROTO, 0);
    a.st("u8", R10, KEY + STEER_KEY_PROTO + 1, 0);
    a.mov64Reg(R2, R10)
      .add64Imm(R2, KEY)
      .ldMapFd(R1, mapFd)
      .call(Helper.mapLookupElem)
      .jmpImm("jne", R0, 0, hit);
  }

  /** Looks the IPv4 address at IPH+addrOff up in local_ports; leaves the value pointer (or 0) in r0. */
  lookupLocal(addrOff: number): void {
    this.a
      .ldx("u32", R1, IPH, addrOff)
      .stx("u32", R10, LOCAL_KEY, R1)
      .mov64Reg(R2, R10)
      .add64Imm(R2, LOCAL_KEY)
      .ldMapFd(R1, this.fds.localPorts)
      .call(Helper.mapLookupElem);
  }

  /** Ends with XDP_PASS after counting why. */
  pass(label: string, counter: number): void {
    this.a.label(label);
    this.count(counter);
    this.a.mov64Imm(R0, XDP_PASS).exit();
  }

  /** Remembers why the frame is to be steered (in r9) and goes to the common steering tail. */
  steer(label: string, counter: number): void {
    this.a.label(label).mov64Imm(PROTO, counter).ja("steer");
  }

  build(): Uint8Array {
    const a = this.a;
    const { services, replies } = this.fds;

    // ---- Ethernet (+ one VLAN tag) ----
    a.mov64Reg(CTX, R1)
      .ldx("u32", R2, CTX, MD_DATA)
      .ldx("u32", R3, CTX, MD_DATA_END)
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
      .jmpImm("jne", R1, ETH_P_IP_LE, "not_ipv4");

    // ---- IPv4 ----
    a.mov64Reg(R4, IPH)
      .add64Imm(R4, 20)
      .jmpReg("jgt", R4, R3, "malformed")
      .ldx("u8", R1, IPH, 0)
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
      .jmpImm("jeq", PROTO, IPPROTO_ICMP, "icmp")
      .jmpImm("jeq", PROTO, IPPROTO_TCP, "ports")
      .jmpImm("jeq", PROTO, IPPROTO_UDP, "ports")
      .jmpImm("jeq", PROTO, IPPROTO_SCTP, "ports")
      .ja("no_match");

    // ---- TCP / UDP / SCTP: services, port-0 services, replies, local ports ----
    a.label("ports").mov64Reg(R4, L4).add64Imm(R4, 4).jmpReg("jgt", R4, R3, "malformed");
    this.lookup(services, IPH, IP_DADDR, L4, 2, true, "hit_service");
    this.lookup(services, IPH, IP_DADDR, null, 0, true, "hit_service_any");
    this.lookup(replies, IPH, IP_SADDR, L4, 0, true, "hit_reply");
    this.lookupLocal(IP_DADDR);
    a.jmpImm("jeq", R0, 0, "no_match")
      .ldx("u16", R1, R0, 0)
      .ldx("u16", R2, R0, 2)
      .ldx("u16", R3, L4, 2)
      .be(R3, 16)
      .jmpReg("jlt", R3, R1, "no_match")
      .jmpReg("jgt", R3, R2, "no_match")
      .ja("hit_local");

    // ---- fragments: by address only ----
    a.label("fragment");
    this.lookup(services, IPH, IP_DADDR, null, 0, false, "hit_fragment");
    this.lookup(replies, IPH, IP_SADDR, null, 0, false, "hit_fragment");
    this.lookupLocal(IP_DADDR);
    a.jmpImm("jne", R0, 0, "hit_fragment").ja("no_match");

    // ---- ICMP errors: look at the quoted packet, reversed ----
    a.label("icmp")
      .mov64Reg(R4, L4)
      .add64Imm(R4, 8 + 20)
      .jmpReg("jgt", R4, R3, "malformed")
      .ldx("u8", R1, L4, 0)
      .jmpImm("jeq", R1, 3, "icmp_error")
      .jmpImm("jeq", R1, 11, "icmp_error")
      .jmpImm("jeq", R1, 12, "icmp_error")
      .ja("no_match")
      .label("icmp_error")
      .mov64Reg(IPH, L4)
      .add64Imm(IPH, 8)
      .ldx("u8", R1, IPH, 0)
      .alu64Imm("and", R1, 0x0f)
      .jmpImm("jlt", R1, 5, "malformed")
      .alu64Imm("lsh", R1, 2)
      .mov64Reg(L4, IPH)
      .alu64Reg("add", L4, R1)
      .mov64Reg(R4, L4)
      .add64Imm(R4, 4)
      .jmpReg("jgt", R4, R3, "malformed")
      .ldx("u8", PROTO, IPH, IP_PROTO)
      .jmpImm("jeq", PROTO, IPPROTO_TCP, "icmp_ports")
      .jmpImm("jeq", PROTO, IPPROTO_UDP, "icmp_ports")
      .jmpImm("jeq", PROTO, IPPROTO_SCTP, "icmp_ports")
      .ja("no_match")
      .label("icmp_ports");
    // The quoted packet was sent by the service (source = VIP:port) or to a real server.
    this.lookup(services, IPH, IP_SADDR, L4, 0, true, "hit_icmp");
    this.lookup(services, IPH, IP_SADDR, null, 0, true, "hit_icmp");
    this.lookup(replies, IPH, IP_DADDR, L4, 2, true, "hit_icmp");
    a.ja("no_match");

    // ---- outcomes ----
    this.steer("hit_service", SteerCounter.SERVICE);
    this.steer("hit_service_any", SteerCounter.SERVICE_ANY_PORT);
    this.steer("hit_reply", SteerCounter.REPLY);
    this.steer("hit_local", SteerCounter.LOCAL_PORT);
    this.steer("hit_fragment", SteerCounter.FRAGMENT);
    this.steer("hit_icmp", SteerCounter.ICMP_ERROR);
    this.pass("no_match", SteerCounter.PASS_NO_MATCH);
    this.pass("not_ipv4", SteerCounter.PASS_NOT_IPV4);
    this.pass("malformed", SteerCounter.PASS_MALFORMED);
    this.pass("other_host", SteerCounter.PASS_OTHER_HOST);

    // Steer only frames addressed to the receiving interface's own MAC, as the kernel hands IPVS
    // only PACKET_HOST frames: a copy flooded by a switch to every port (unknown unicast, e.g. a
    // frame this director just sent to a real server) must not be forwarded a second time. The
    // packet pointers are reloaded after the lookup, with a fresh bounds check.
    a.label("steer")
      .ldx("u32", R1, CTX, MD_INGRESS_IFINDEX)
      .stx("u32", R10, IFMAC_KEY, R1)
      .mov64Reg(R2, R10)
      .add64Imm(R2, IFMAC_KEY)
      .ldMapFd(R1, this.fds.ifMacs)
      .call(Helper.mapLookupElem)
      .jmpImm("jeq", R0, 0, "other_host")
      .ldx("u32", R2, CTX, MD_DATA)
      .ldx("u32", R3, CTX, MD_DATA_END)
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

    a.label("redirect")
      .ldMapFd(R1, this.fds.xsks)
      .ldx("u32", R2, CTX, MD_RX_QUEUE_INDEX)
      .mov64Imm(R3, this.missAction)
      .call(Helper.redirectMap)
      .exit();
    return a.assemble();
  }
}

/** Generates the steering program for the given map fds (they are embedded in the bytecode). */
export function buildSteeringProgram(fds: SteeringMapFds, options: SteeringProgramOptions = {}): Uint8Array {
  const miss = (options.missAction ?? "pass") === "drop" ? XDP_DROP : XDP_PASS;
  return new Generator(fds, miss).build();
}

/** Generates and loads the steering program; returns its fd (the caller closes it). */
export function loadSteeringProgram(fds: SteeringMapFds, options: SteeringProgramOptions = {}): number {
  return progLoad({
    type: ProgType.XDP,
    insns: buildSteeringProgram(fds, options),
    name: "tslvs_steer",
    license: "GPL",
  });
}
