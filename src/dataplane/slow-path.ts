import { CONN_F_DROUTE, CONN_F_FULLNAT, CONN_F_MASQ, CONN_F_TUNNEL } from "../core/conn-table.js";
import type { Director } from "../core/director.js";
import { FlowPacket } from "../core/flow.js";
import { ACTION_DROP, ACTION_FORWARD, ACTION_ICMP_UNREACH, ACTION_PASS, Verdict } from "../core/verdict.js";
import { get32 } from "../net/bytes.js";
import { readMac, writeMac } from "../net/ethernet.js";
import {
  buildIcmpError,
  ICMP_DEST_UNREACH,
  ICMP_ERROR_MAX_LEN,
  ICMP_PORT_UNREACH,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  icmpErrorAllowed,
} from "../net/icmp.js";
import { IcmpQuote, parseIcmpQuote } from "../net/icmp-quote.js";
import {
  buildIcmpv6Error,
  ICMPV6_DEST_UNREACH,
  ICMPV6_ERROR_MAX_LEN,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PORT_UNREACH,
  ICMPV6_TIME_EXCEEDED,
  icmpv6ErrorAllowed,
} from "../net/icmpv6.js";
import { FRAG_NONE, PROTO_ICMP, PROTO_ICMPV6, PROTO_IPIP, PROTO_SCTP, PROTO_UDP } from "../net/ip.js";
import { ParsedFrame, parseFrame } from "../net/parse.js";
import { PARSE_OK } from "../net/reason.js";
import {
  drRewrite,
  fullnatInbound,
  fullnatOutbound,
  natInbound,
  natOutbound,
  RW_OK,
  RW_TTL_EXPIRED,
} from "../net/rewrite.js";
import {
  fullnatInboundIcmp,
  fullnatOutboundIcmp,
  natInboundIcmp,
  natOutboundIcmp,
} from "../net/rewrite-icmp.js";
import { sctpChecksumValid } from "../net/sctp.js";
import type { FlowCapture } from "./flow-capture.js";
import { MarkEvaluator, type MarkPacket } from "./marks/mark-rules.js";
import type { NextHop } from "./next-hops.js";
import { completePartialChecksum } from "./partial-checksum.js";

/** Counters of the per-frame decisions the director does not see (every frame not sent is one). */
export class FrameCounters {
  malformed = 0;
  dropped = 0;
  passedAndDropped = 0;
  /** New FULLNAT connections refused: no local port free. */
  noLocalPort = 0;
  noRoute = 0;
  ttlExpired = 0;
  rewriteFailed = 0;
  icmpSent = 0;
  partialChecksums = 0;
  /** ICMP errors about a connection, forwarded to its real server or back to its client. */
  icmpForwarded = 0;
  /** ICMP errors steered here that concern no connection (or quote too little to tell): dropped. */
  icmpUnrelated = 0;
  /** Fragments (first or later) of virtual-service traffic: dropped, never reassembled (0551). */
  fragmentsDropped = 0;
  /** SCTP packets whose CRC32c is wrong: dropped before the core sees them (decision 1120). */
  sctpBadChecksum = 0;
}

/** Where the slow path finds next hops (the engine's NextHopCache). */
export interface NextHopLookup {
  /** The next hop toward an IPv4 address; null on a miss (which starts a resolution). */
  get(addrV4: number): NextHop | null;
  /** The next hop toward the IPv6 address words[at..at+4); null on a miss (which starts one). */
  get6(words: ArrayLike<number>, at: number): NextHop | null;
  /** The key a held frame waits under for the IPv6 next hop words[at..at+4); -1 when unknown. */
  key6(words: ArrayLike<number>, at: number): number;
}

/** Whether an address is a virtual service's (the packet goes to director.inbound). */
export interface VirtualAddresses {
  isVirtualAddress(addrV4: number): boolean;
  /** The IPv6 address words[0..4). */
  isVirtualAddress6(words: ArrayLike<number>): boolean;
  /** Whether a firewall-mark service of `mark` exists for `family`; absent: none does. */
  isMarkService?(family: 4 | 6, mark: number): boolean;
}

/** What to transmit when `process` returns true: `length` bytes at `offset`, out of `ifindex`. */
export class TxDecision {
  ifindex = 0;
  offset = 0;
  length = 0;
  /** The frame was not sent but handed to the hold queue (its next hop is being resolved). */
  held = false;
}

/**
 * Forwarding methods that build and send their own frames (TUN encapsulates, FULLNAT may insert TOA
 * and answers frag-needed): true when the frame was queued for transmission (no longer the caller's).
 */
export interface MethodTransmitters {
  tunnel(bytes: Uint8Array, f: ParsedFrame, v: Verdict): boolean;
  /**
   * A router's ICMP error (type, code, rest of header) about a tunnel packet sent toward `rsV4`;
   * the client's packet is quoted at bytes[innerOff..innerEnd). True when an error went to the client.
   */
  tunnelError(
    bytes: Uint8Array,
    innerOff: number,
    innerEnd: number,
    rsV4: number,
    type: number,
    code: number,
    rest: number,
  ): boolean;
  fullnat(bytes: Uint8Array, f: ParsedFrame, v: Verdict, inbound: boolean): boolean;
  /**
   * After `tunnel` (or `fullnat`) returned true: the next hop the frame went to, or null when its
   * conn must not be offloaded to the XDP fast path yet (FULLNAT's TOA option still to be inserted).
   */
  sentHop(tunnel: boolean): NextHop | null;
}

/** Keeps rewritten frames while their next hop's MAC is resolved (the engine's HeldFrames). */
export interface FrameHolder {
  /** True when the frame [offset, offset+length) is now held for `hopKey` (NextHopCache's keys). */
  hold(offset: number, length: number, hopKey: number): boolean;
}

/** The interface a frame arrived on, as the slow path needs it. */
export interface IngressPort {
  ifindex: number;
  /** Its MAC as a number (the source of what is sent back out of it). */
  mac: number;
}

/**
 * The per-frame slow path, with no sockets: classify the frame, offer the packet to the director
 * (the IPVS core), rewrite it in place as the verdict says and decide where it leaves — or drop it
 * and count why. The engine feeds it frames from the AF_XDP rings and transmits what it decides;
 * tests and fuzzers feed it frames in plain buffers.
 *
 * Every write stays inside the frame's slot [offset, offset + room): the frame is rewritten in place,
 * and an ICMP error sent back is built in the same slot (the quoted bytes are copied aside first).
 * Nothing is allocated per frame.
 */
/** Told about every packet the slow path forwards (the XDP fast path installs established flows). */
export interface ForwardObserver {
  offer(pkt: FlowPacket, v: Verdict, inbound: boolean, hop: NextHop, inIfindex: number, inMac: number): void;
}

export class SlowPath {
  readonly counters: FrameCounters;
  /** Optional observer of forwarded packets. */
  forwarded: ForwardObserver | null = null;
  /** Where frames wait for a next hop being resolved; without it they are dropped (noRoute). */
  holder: FrameHolder | null = null;
  /** TUN and FULLNAT transmitters; without them such packets are counted (rewriteFailed), not sent. */
  methods: MethodTransmitters | null = null;
  /** The connection capture running (tslvs trace --capture); null when none. */
  capture: FlowCapture | null = null;
  private readonly parsed = new ParsedFrame();
  private readonly pkt = new FlowPacket();
  private readonly icmpQuote = new IcmpQuote();
  private readonly tunnelQuote = new IcmpQuote();
  private readonly verdict = new Verdict();
  private readonly quote = new Uint8Array(ICMPV6_ERROR_MAX_LEN);
  private readonly scratch6 = new Uint32Array(4);
  private ipId = 1;
  /** The firewall-mark rules (the host's nftables prerouting rules and the config's): the mark IPVS would see. */
  readonly marks = new MarkEvaluator();
  private readonly markPacket: MarkPacket = {
    family: 4,
    protocol: 0,
    saddr: this.parsed.saddr,
    daddr: this.parsed.daddr,
    sport: 0,
    dport: 0,
    ifindex: 0,
  };

  constructor(
    private readonly director: Director,
    private readonly nextHops: NextHopLookup,
    private readonly vips: VirtualAddresses,
    counters: FrameCounters = new FrameCounters(),
  ) {
    this.counters = counters;
  }

  /**
   * Handles the frame bytes[offset .. offset+length), whose slot extends to offset+room. Returns
   * true when `out` says what to transmit (a frame inside the same slot); false when the frame is
   * dropped (counted).
   */
  process(
    bytes: Uint8Array,
    offset: number,
    length: number,
    room: number,
    ingress: IngressPort,
    now: number,
    out: TxDecision,
  ): boolean {
    const f = this.parsed;
    out.held = false;
    if (room < length || parseFrame(bytes, offset, length, f) !== PARSE_OK || f.family === 0) {
      this.counters.malformed++;
      return false;
    }
    if (f.fragment !== FRAG_NONE) {
      // Later fragments carry no ports and could only be misrouted; a first fragment alone would
      // open a conn for a datagram that never arrives whole. See docs/decisions/0551-fragments.md.
      this.counters.fragmentsDropped++;
      return false;
    }
    if (completePartialChecksum(bytes, f)) this.counters.partialChecksums++;
    // A damaged SCTP packet must neither move an association's state nor, through NAT's CRC
    // recomputation, reach the real server looking intact (docs/decisions/1120-sctp.md).
    if (f.protocol === PROTO_SCTP && !sctpChecksumValid(bytes, f.l4Off, f.l4Len)) {
      this.counters.sctpBadChecksum++;
      return false;
    }
    if (f.protocol === (f.family === 4 ? PROTO_ICMP : PROTO_ICMPV6))
      return this.icmpError(bytes, f, now, out);
    const pkt = this.pkt;
    pkt.family = f.family;
    pkt.protocol = f.protocol;
    pkt.saddr.set(f.saddr);
    pkt.daddr.set(f.daddr);
    pkt.sport = f.sport;
    pkt.dport = f.dport;
    pkt.tcpFlags = f.tcpFlags;
    pkt.sctpChunk = f.sctpChunk;
    pkt.sctpNextChunk = f.sctpNextChunk;
    pkt.length = f.ipLen;
    pkt.fwmark = 0;
    let marked = false;
    if (this.marks.program.hooks.length > 0) {
      const mp = this.markPacket;
      mp.family = f.family as 4 | 6;
      mp.protocol = f.protocol;
      mp.sport = f.sport;
      mp.dport = f.dport;
      mp.ifindex = ingress.ifindex;
      const mark = this.marks.evaluate(mp);
      if (mark > 0) {
        pkt.fwmark = mark;
        marked = this.vips.isMarkService?.(mp.family, mark) ?? false;
      }
    }
    // A persistence engine (--pe sip) reads a UDP datagram's payload in place: a reference, no copy.
    if (f.protocol === PROTO_UDP) pkt.setPayload(bytes, f.payloadOff, f.payloadLen);
    else pkt.payload = null;
    const v = this.verdict.reset();
    // A packet the rules mark for a firewall-mark service is a client's, whatever its address.
    const inbound = marked || this.isVirtual(f);
    if (inbound) this.director.inbound(pkt, now, v);
    else this.director.outbound(pkt, now, v);

    // One null test per frame when nothing is captured.
    const cap = this.capture;
    if (cap !== null && this.captures(cap, v, inbound)) {
      cap.record(bytes, f.frameOff, f.frameLen, "in", ingress.ifindex);
      if (v.action === ACTION_FORWARD) return this.forwardCaptured(cap, bytes, f, v, inbound, ingress, out);
    }
    switch (v.action) {
      case ACTION_FORWARD:
        return this.forward(bytes, f, v, inbound, ingress, out);
      case ACTION_ICMP_UNREACH:
        return f.family === 4
          ? this.unreachable(bytes, f, offset + room, ingress, out)
          : this.unreachable6(bytes, f, offset + room, ingress, out);
      case ACTION_PASS:
        // Steered frames never reach the host's stack again: a VIP with no listener must not be
        // answered with a RST by the host, so what IPVS would pass on is dropped here and counted.
        this.counters.passedAndDropped++;
        return false;
      case ACTION_DROP:
        this.counters.dropped++;
        if (v.reason === "no-local-port") this.counters.noLocalPort++;
        return false;
    }
    this.counters.dropped++;
    return false;
  }

  /**
   * Whether the packet just decided belongs to the captured connection: its conn index, once known
   * (guarded against a reused index by the conn's ports), or the first conn of the captured tuple.
   */
  private captures(cap: FlowCapture, v: Verdict, inbound: boolean): boolean {
    const i = v.conn;
    if (i < 0) return false;
    if (cap.conn === i) {
      const t = this.director.conns;
      return t.cportOf(i) === cap.tuple.cport && t.vportOf(i) === cap.tuple.vport;
    }
    if (cap.conn >= 0 || !inbound || !cap.matchesInbound(this.pkt)) return false;
    cap.adopt(i);
    return true;
  }

  /** forward() for the captured connection: what it sends is recorded too. */
  private forwardCaptured(
    cap: FlowCapture,
    bytes: Uint8Array,
    f: ParsedFrame,
    v: Verdict,
    inbound: boolean,
    ingress: IngressPort,
    out: TxDecision,
  ): boolean {
    cap.sending = true;
    let sent: boolean;
    try {
      sent = this.forward(bytes, f, v, inbound, ingress, out);
    } finally {
      cap.sending = false;
    }
    if (sent) cap.record(bytes, out.offset, out.length, "out", out.ifindex);
    return sent;
  }

  private forward(
    bytes: Uint8Array,
    f: ParsedFrame,
    v: Verdict,
    inbound: boolean,
    ingress: IngressPort,
    out: TxDecision,
  ): boolean {
    const fwd = v.fwd;
    if (this.methods && (fwd === CONN_F_TUNNEL || fwd === CONN_F_FULLNAT)) {
      // These transmit themselves; a frame they queued belongs to the TX ring now.
      const sent =
        fwd === CONN_F_TUNNEL ? this.methods.tunnel(bytes, f, v) : this.methods.fullnat(bytes, f, v, inbound);
      out.held = sent;
      if (sent && this.forwarded) {
        const hop = this.methods.sentHop(fwd === CONN_F_TUNNEL);
        if (hop) this.forwarded.offer(this.pkt, v, inbound, hop, ingress.ifindex, ingress.mac);
      }
      return false;
    }
    // DR sends the unchanged packet to the real server's MAC: the next hop is the real server.
    const toward = fwd === CONN_F_DROUTE && v.dest ? v.dest.addr.words : v.dstAddr;
    const hop = this.hopToward(f.family, toward);
    let rc: number;
    if (fwd === CONN_F_DROUTE) {
      rc = drRewrite(bytes, f, hop ? hop.dstMac : 0, hop ? hop.srcMac : 0);
    } else if (fwd === CONN_F_MASQ) {
      rc = inbound
        ? natInbound(bytes, f, v.dstAddr, 0, v.dstPort)
        : natOutbound(bytes, f, v.srcAddr, 0, v.srcPort);
    } else if (fwd === CONN_F_FULLNAT) {
      rc = inbound
        ? fullnatInbound(bytes, f, v.srcAddr, 0, v.srcPort, v.dstAddr, 0, v.dstPort)
        : fullnatOutbound(bytes, f, v.srcAddr, 0, v.srcPort, v.dstAddr, 0, v.dstPort);
    } else {
      // Tunnel and local-node forwarding are not in this engine yet: counted, never mis-sent.
      this.counters.rewriteFailed++;
      return false;
    }
    if (rc !== RW_OK) {
      if (rc === 1) this.counters.ttlExpired++;
      else this.counters.rewriteFailed++;
      return false;
    }
    if (!hop) {
      // The next hop's MAC is being resolved: hold the rewritten frame, as the kernel's neighbour
      // queue does, instead of dropping a connection's first packets (a second or more of delay).
      const key = f.family === 4 ? toward[0]! : this.nextHops.key6(toward, 0);
      if (key >= 0 && this.holder?.hold(f.frameOff, f.frameLen, key)) {
        out.held = true;
        return false;
      }
      this.counters.noRoute++;
      return false;
    }
    writeMac(bytes, f.frameOff, hop.dstMac);
    writeMac(bytes, f.frameOff + 6, hop.srcMac);
    this.forwarded?.offer(this.pkt, v, inbound, hop, ingress.ifindex, ingress.mac);
    out.ifindex = hop.ifindex;
    out.offset = f.frameOff;
    out.length = f.frameLen;
    return true;
  }

  /**
   * An ICMP error steered here because its quoted packet belongs to a virtual service or a real
   * server (kernel ip_vs_in_icmp / ip_vs_out_icmp; the kernel looks at types 3, 4 and 11 only):
   * forwarded along its connection, translated for NAT and FULLNAT. Anything else is dropped.
   */
  private icmpError(bytes: Uint8Array, f: ParsedFrame, now: number, out: TxDecision): boolean {
    const type = f.icmpType;
    const related =
      f.family === 4
        ? type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_TIME_EXCEEDED
        : type === ICMPV6_DEST_UNREACH || type === ICMPV6_PACKET_TOO_BIG || type === ICMPV6_TIME_EXCEEDED;
    if (!related) {
      this.counters.icmpUnrelated++;
      return false;
    }
    const q = this.icmpQuote;
    const family = f.family === 6 ? 6 : 4;
    if (parseIcmpQuote(bytes, f.payloadOff, f.l3Off + f.ipLen, family, q) !== PARSE_OK) {
      this.counters.icmpUnrelated++;
      return false;
    }
    if (family === 4 && q.protocol === PROTO_IPIP && q.fragment === FRAG_NONE)
      return this.tunnelError(bytes, f, now);
    if (!q.hasPorts) {
      this.counters.icmpUnrelated++;
      return false;
    }
    const pkt = this.quotedPacket(family, q, false, f.ipLen);
    const fromClientSide = this.isVirtual(f);
    const v = this.director.icmpRelated(fromClientSide, pkt, f.ipLen, now, this.verdict);
    if (v.action !== ACTION_FORWARD) {
      this.counters.icmpUnrelated++;
      return false;
    }
    const fwd = v.fwd;
    if (fwd === CONN_F_TUNNEL && fromClientSide && this.methods) {
      // The kernel sends it on with the connection's transmitter: encapsulated to the real server.
      out.held = this.methods.tunnel(bytes, f, v);
      if (out.held) this.counters.icmpForwarded++;
      return false;
    }
    let toward: ArrayLike<number>;
    if (fromClientSide) toward = fwd === CONN_F_DROUTE && v.dest ? v.dest.addr.words : v.dstAddr;
    else toward = fwd === CONN_F_FULLNAT ? v.dstAddr : f.daddr;
    const hop = this.hopToward(f.family, toward);
    if (!hop) {
      this.counters.noRoute++;
      return false;
    }
    let rc: number;
    if (fwd === CONN_F_DROUTE && fromClientSide) rc = drRewrite(bytes, f, hop.dstMac, hop.srcMac);
    else if (fwd === CONN_F_MASQ)
      rc = fromClientSide
        ? natInboundIcmp(bytes, f, q, v.dstAddr, 0, v.dstPort)
        : natOutboundIcmp(bytes, f, q, v.srcAddr, 0, v.srcPort);
    else if (fwd === CONN_F_FULLNAT)
      rc = fromClientSide
        ? fullnatInboundIcmp(bytes, f, q, v.srcAddr, 0, v.srcPort, v.dstAddr, 0, v.dstPort)
        : fullnatOutboundIcmp(bytes, f, q, v.srcAddr, 0, v.srcPort, v.dstAddr, 0, v.dstPort);
    else {
      this.counters.rewriteFailed++;
      return false;
    }
    if (rc !== RW_OK) {
      if (rc === RW_TTL_EXPIRED) this.counters.ttlExpired++;
      else this.counters.rewriteFailed++;
      return false;
    }
    writeMac(bytes, f.frameOff, hop.dstMac);
    writeMac(bytes, f.frameOff + 6, hop.srcMac);
    this.counters.icmpForwarded++;
    out.ifindex = hop.ifindex;
    out.offset = f.frameOff;
    out.length = f.frameLen;
    return true;
  }

  /**
   * An ICMP error a router sent about one of the director's own IPIP packets (addressed to the
   * director, quoting the outer header and, inside it, the client's packet to the VIP): the
   * kernel's "errors for our IPIP" in ip_vs_in_icmp. The TUN connection of the client's packet must
   * exist and go to the quoted outer destination; the tunnel transmitter then learns the path MTU
   * and tells the client. The frame itself is consumed.
   */
  private tunnelError(bytes: Uint8Array, f: ParsedFrame, now: number): boolean {
    const outer = this.icmpQuote;
    const q = this.tunnelQuote;
    if (parseIcmpQuote(bytes, outer.l4Off, outer.end, 4, q) !== PARSE_OK || !q.hasPorts) {
      this.counters.icmpUnrelated++;
      return false;
    }
    // The connection as icmpRelated looks it up from the client side: the quoted packet reversed.
    const pkt = this.quotedPacket(4, q, true, f.ipLen);
    const v = this.director.icmpRelated(true, pkt, f.ipLen, now, this.verdict);
    const dest = v.dest;
    if (
      v.action !== ACTION_FORWARD ||
      v.fwd !== CONN_F_TUNNEL ||
      dest === null ||
      dest.addr.family !== 4 ||
      dest.addr.v4Value !== outer.daddr[0]
    ) {
      this.counters.icmpUnrelated++;
      return false;
    }
    if (!this.methods) {
      this.counters.rewriteFailed++;
      return false;
    }
    const icmp = f.payloadOff - 8;
    const rest = get32(bytes, icmp + 4);
    if (
      this.methods.tunnelError(bytes, q.l3Off, q.end, dest.addr.v4Value, bytes[icmp]!, bytes[icmp + 1]!, rest)
    )
      this.counters.icmpSent++;
    return false;
  }

  /**
   * The core's packet for a packet quoted in an ICMP error (`reversed`: seen from its other end),
   * `length` the error's own length (what the connection's counters are charged), in `this.pkt`.
   */
  private quotedPacket(family: 4 | 6, q: IcmpQuote, reversed: boolean, length: number): FlowPacket {
    const pkt = this.pkt;
    pkt.family = family;
    pkt.protocol = q.protocol;
    pkt.saddr.set(reversed ? q.daddr : q.saddr);
    pkt.daddr.set(reversed ? q.saddr : q.daddr);
    pkt.sport = reversed ? q.dport : q.sport;
    pkt.dport = reversed ? q.sport : q.dport;
    pkt.tcpFlags = 0;
    pkt.sctpChunk = -1;
    pkt.sctpNextChunk = -1;
    pkt.length = length;
    pkt.fwmark = 0;
    pkt.payload = null;
    return pkt;
  }

  /** Copies the packet being answered aside (the answer is built over it), without a view object. */
  private copyQuote(bytes: Uint8Array, from: number, len: number): void {
    const q = this.quote;
    for (let k = 0; k < len; k++) q[k] = bytes[from + k]!;
  }

  /**
   * Puts the Ethernet header on an ICMP error built at start + 14 (`ipLen` bytes; 0: it could not
   * be built) and sends it back to `peer` out of the interface the frame came in on.
   */
  private frameBack(
    bytes: Uint8Array,
    start: number,
    peer: number,
    ingress: IngressPort,
    ethertype: number,
    ipLen: number,
    out: TxDecision,
  ): boolean {
    if (ipLen === 0) {
      this.counters.dropped++;
      return false;
    }
    writeMac(bytes, start, peer);
    writeMac(bytes, start + 6, ingress.mac);
    bytes[start + 12] = ethertype >>> 8;
    bytes[start + 13] = ethertype & 0xff;
    this.counters.icmpSent++;
    out.ifindex = ingress.ifindex;
    out.offset = start;
    out.length = 14 + ipLen;
    return true;
  }

  /**
   * ICMP port unreachable back to the sender, out of the interface the frame came in on, built in
   * the frame's own slot (ending at `slotEnd`) over the frame it answers.
   */
  private unreachable(
    bytes: Uint8Array,
    f: ParsedFrame,
    slotEnd: number,
    ingress: IngressPort,
    out: TxDecision,
  ): boolean {
    if (!icmpErrorAllowed(bytes, f.l3Off, f.ipLen)) {
      this.counters.dropped++;
      return false;
    }
    const quoted = Math.min(f.ipLen, ICMP_ERROR_MAX_LEN);
    this.copyQuote(bytes, f.l3Off, quoted);
    const peer = readMac(bytes, f.frameOff + 6);
    const start = f.frameOff;
    const ipLen = buildIcmpError(
      bytes,
      start + 14,
      slotEnd - (start + 14),
      this.quote,
      0,
      quoted,
      ICMP_DEST_UNREACH,
      ICMP_PORT_UNREACH,
      0,
      f.daddr[0]!,
      this.ipId++ & 0xffff,
    );
    return this.frameBack(bytes, start, peer, ingress, 0x0800, ipLen, out);
  }
  /**
   * ICMPv6 port unreachable back to the sender (the kernel's icmpv6_send for a service without a
   * real server), out of the interface the frame came in on, built in the frame's own slot.
   */
  private unreachable6(
    bytes: Uint8Array,
    f: ParsedFrame,
    slotEnd: number,
    ingress: IngressPort,
    out: TxDecision,
  ): boolean {
    const end = f.l3Off + f.ipLen;
    if (!icmpv6ErrorAllowed(bytes, f.l3Off, f.protocol, f.l4Off, end, ICMPV6_DEST_UNREACH)) {
      this.counters.dropped++;
      return false;
    }
    const quoted = Math.min(f.ipLen, this.quote.length);
    this.copyQuote(bytes, f.l3Off, quoted);
    const peer = readMac(bytes, f.frameOff + 6);
    const start = f.frameOff;
    // The error comes from the address the packet was sent to (the VIP).
    const ipLen = buildIcmpv6Error(
      bytes,
      start + 14,
      slotEnd - (start + 14),
      this.quote,
      0,
      quoted,
      ICMPV6_DEST_UNREACH,
      ICMPV6_PORT_UNREACH,
      0,
      f.daddr,
      0,
      this.scratch6,
    );
    return this.frameBack(bytes, start, peer, ingress, 0x86dd, ipLen, out);
  }

  /** Whether the frame's destination is a virtual service's address. */
  private isVirtual(f: ParsedFrame): boolean {
    return f.family === 4 ? this.vips.isVirtualAddress(f.daddr[0]!) : this.vips.isVirtualAddress6(f.daddr);
  }

  /** The next hop toward an address of `family` (IPv4: word 0; IPv6: words 0-3). */
  private hopToward(family: number, words: ArrayLike<number>): NextHop | null {
    return family === 4 ? this.nextHops.get(words[0]!) : this.nextHops.get6(words, 0);
  }
}
