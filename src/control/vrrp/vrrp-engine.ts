/**
 * The VRRP engine of `tslvs start --keepalived-conf`: runs the file's vrrp_instance blocks (one
 * VrrpInstance each), their vrrp_script and track_interface tracking, their vrrp_sync_groups and
 * notify scripts, over raw protocol-112 sockets (vrrp-socket.ts), putting the VIPs on and off the
 * interfaces over rtnetlink and announcing them (address-announcer.ts).
 *
 * Everything runs on the daemon's event loop from one 10 ms timer: the sockets are drained without
 * blocking, then each instance whose deadline passed is ticked. At 1 advert per second per
 * instance, that is far below anything the packet loop would notice, and timers are met within
 * 10 ms (plus the packet loop's idle poll), well inside the RFC's skew.
 */
import type { Logger } from "pino";
import { IpAddr } from "../../core/address.js";
import {
  emptyAdvert,
  passBytes,
  readAdvert,
  VRRP_AUTH_NONE,
  VRRP_AUTH_PASS,
  VRRP_DROP_REASONS,
  VRRP_GROUP_V4,
  VRRP_GROUP_V6,
  type VrrpDropReason,
  writeAdvert,
} from "../../net/vrrp.js";
import { addAddress, deleteAddress, type InterfaceAddress } from "../../platform/rtnetlink-addresses.js";
import { hostRtnetlink } from "../../platform/rtnetlink-client.js";
import { dumpAddresses, dumpLinks, type LinkRecord } from "../../platform/rtnetlink-tables.js";
import type { ScriptSpec } from "../health/check-spec.js";
import { runNotifyScript } from "../health/notify-script.js";
import { AddressAnnouncer } from "./address-announcer.js";
import { TrackScript } from "./track-script.js";
import type { VrrpConfig, VrrpInstanceConfig, VrrpNotify, VrrpSyncGroupConfig } from "./vrrp-config.js";
import { VrrpInstance, type VrrpState } from "./vrrp-instance.js";
import { VrrpSocket } from "./vrrp-socket.js";

const LOOP_MS = 10;
const LINK_CHECK_MS = 500;
/** Packets read per socket per turn at most: a flood cannot hold the event loop. */
const MAX_READS = 64;

export interface VrrpEngineOptions {
  log: Logger;
  /** A state change, for the daemon's event log. */
  onTransition?: (instance: string, from: VrrpState, to: VrrpState, why: string) => void;
  scriptUser?: { user: string; group?: string };
  scriptSecurity?: boolean;
  /** Seconds, monotonic. */
  clock?: () => number;
}

/** One instance as `tslvs status` lists it. */
export interface VrrpInstanceEntry {
  name: string;
  state: VrrpState;
  interface: string;
  vrid: number;
  version: 2 | 3;
  family: 4 | 6;
  priority: number;
  configuredPriority: number;
  advertInt: number;
  vips: string[];
  master: string | null;
  fault: string | null;
  syncGroup: string | null;
  transitions: number;
  advertsSent: number;
  advertsReceived: number;
}

export interface VrrpListing {
  instances: VrrpInstanceEntry[];
  /** Advertisements dropped, by reason. */
  dropped: Record<string, number>;
  garpSent: number;
}

interface Runner {
  cfg: VrrpInstanceConfig;
  inst: VrrpInstance;
  ifindex: number;
  mac: Uint8Array;
  linkLocal: Uint8Array | null;
  socket: VrrpSocket | null;
  group: VrrpSyncGroupConfig | null;
  scripts: { script: TrackScript; weight: number; reverse: boolean }[];
  garpTimers: NodeJS.Timeout[];
  /** Why the instance cannot run at all (no interface, no address), or null. */
  broken: string | null;
}

function addrText(b: Uint8Array): string {
  return IpAddr.fromBytes(b).toString();
}

export class VrrpEngine {
  private readonly runners: Runner[] = [];
  private readonly sockets = new Map<string, { socket: VrrpSocket; runners: Runner[] }>();
  private readonly scripts = new Map<string, TrackScript>();
  private readonly dropped = new Map<VrrpDropReason, number>();
  private readonly reported = new Set<string>();
  private announcer: AddressAnnouncer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastLinkCheck = 0;
  private links = new Map<string, LinkRecord>();
  private readonly clock: () => number;
  private readonly msg = new Uint8Array(1500);
  private readonly advert = emptyAdvert();
  /** A sync group being moved: its members' own changes do not move it again. */
  private moving = false;

  private constructor(
    private readonly config: VrrpConfig,
    private readonly opts: VrrpEngineOptions,
  ) {
    this.clock = opts.clock ?? (() => performance.now() / 1000);
    for (const r of VRRP_DROP_REASONS) this.dropped.set(r, 0);
  }

  /** Starts every instance of `config`. Throws when the sockets cannot be opened at all (no CAP_NET_RAW). */
  static start(config: VrrpConfig, opts: VrrpEngineOptions): VrrpEngine {
    const e = new VrrpEngine(config, opts);
    try {
      e.announcer = AddressAnnouncer.open();
      e.build();
    } catch (err) {
      e.closeAll();
      throw err;
    }
    const now = e.clock();
    e.checkLinks(now, true);
    for (const r of e.runners) r.inst.start(now);
    for (const s of e.scripts.values()) s.start();
    e.timer = setInterval(() => e.turn(), LOOP_MS);
    return e;
  }

  private build(): void {
    const nl = hostRtnetlink();
    const links = dumpLinks(nl);
    const addrs = dumpAddresses(nl);
    for (const s of this.config.scripts)
      this.scripts.set(
        s.name,
        new TrackScript(s, () => this.retrack(), this.opts.scriptUser, this.opts.scriptSecurity ?? false),
      );
    for (const cfg of this.config.instances) {
      const link = links.find((l) => l.name === cfg.interface);
      const group = this.config.syncGroups.find((g) => g.members.includes(cfg.name)) ?? null;
      const vipKeys = new Set(cfg.vips.map((v) => v.addr.toString()));
      const own = addrs.filter((a) => link && a.ifindex === link.ifindex && !vipKeys.has(a.addr.toString()));
      const linkLocal =
        own.find((a) => a.addr.family === 6 && a.addr.words[0]! >>> 22 === 0x3fa)?.addr ?? null;
      let source: IpAddr | null = cfg.unicastSrc ?? null;
      if (!source)
        source = cfg.family === 4 ? (own.find((a) => a.addr.family === 4)?.addr ?? null) : linkLocal;
      let broken: string | null = null;
      if (!link) broken = `interface ${cfg.interface} not found`;
      else if (!source)
        broken = `no IPv${cfg.family} ${cfg.family === 6 ? "link-local " : ""}address on ${cfg.interface}`;
      const scripts: Runner["scripts"] = [];
      for (const t of cfg.trackScripts) {
        const script = this.scripts.get(t.name);
        if (!script) {
          this.opts.log.warn(
            { instance: cfg.name, script: t.name },
            `(${cfg.name}) track_script ${t.name} not found - ignoring`,
          );
          continue;
        }
        scripts.push({ script, weight: t.weight ?? script.config.weight, reverse: t.reverse });
      }
      const localAddress = source ? source.toBytes() : new Uint8Array(cfg.family === 4 ? 4 : 16);
      const r: Runner = {
        cfg,
        inst: null as unknown as VrrpInstance,
        ifindex: link?.ifindex ?? 0,
        mac: link?.mac ?? new Uint8Array(6),
        linkLocal: linkLocal ? linkLocal.toBytes() : null,
        socket: null,
        group,
        scripts,
        garpTimers: [],
        broken,
      };
      r.inst = new VrrpInstance(cfg, localAddress, {
        sendAdvert: (p) => this.sendAdvert(r, p),
        takeVips: () => this.takeVips(r),
        releaseVips: () => this.releaseVips(r),
        stateChanged: (from, to, why) => this.stateChanged(r, from, to, why),
        mayTakeOver: (now) => this.groupMayTakeOver(r, now),
      });
      if (broken) {
        this.opts.log.error({ instance: cfg.name }, `(${cfg.name}) cannot run: ${broken}`);
        r.inst.setFault(broken, 0);
      } else {
        // One IPv4 socket per interface (the source is in each packet's header); IPv6 binds its source.
        const key = `${cfg.interface}/${cfg.family}${cfg.family === 6 ? `/${source!.toString()}` : ""}`;
        let s = this.sockets.get(key);
        if (!s) {
          const group = IpAddr.mustParse(cfg.family === 4 ? VRRP_GROUP_V4 : VRRP_GROUP_V6).toBytes();
          s = {
            socket: VrrpSocket.open(cfg.interface, link!.ifindex, source!.toBytes(), group),
            runners: [],
          };
          this.sockets.set(key, s);
        }
        s.runners.push(r);
        r.socket = s.socket;
        this.removeLeftVips(r, nl);
      }
      this.runners.push(r);
    }
  }

  /** A VIP on the interface at start was left by an earlier run that was killed: a backup holds none. */
  private removeLeftVips(r: Runner, nl: ReturnType<typeof hostRtnetlink>): void {
    for (const a of this.vipAddresses(r)) {
      try {
        if (deleteAddress(nl, a))
          this.opts.log.info(
            { instance: r.cfg.name, vip: a.addr.toString() },
            `(${r.cfg.name}) removed ${a.addr}/${a.prefixLen} left on the interface by an earlier run`,
          );
      } catch (e) {
        this.opts.log.warn({ instance: r.cfg.name, err: (e as Error).message }, "could not check a left VIP");
      }
    }
  }

  private vipAddresses(r: Runner): InterfaceAddress[] {
    const out: InterfaceAddress[] = [];
    for (const v of r.cfg.vips) {
      const ifindex = v.dev ? (this.links.get(v.dev)?.ifindex ?? linkIndex(v.dev)) : r.ifindex;
      if (!ifindex) continue;
      out.push({
        ifindex,
        addr: v.addr,
        prefixLen: v.prefixLen,
        scope: v.scope,
        ...(v.label !== undefined ? { label: v.label } : {}),
        ...(v.broadcast ? { broadcast: v.broadcast } : {}),
      });
    }
    return out;
  }

  private turn(): void {
    const now = this.clock();
    try {
      for (const s of this.sockets.values()) this.drain(s.socket, s.runners, now);
      if (now - this.lastLinkCheck >= LINK_CHECK_MS / 1000) this.checkLinks(now, false);
      for (const r of this.runners) if (now >= r.inst.deadline) r.inst.tick(now);
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, "VRRP engine turn failed");
    }
  }

  private drop(reason: VrrpDropReason): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }

  private drain(socket: VrrpSocket, runners: Runner[], now: number): void {
    for (let i = 0; i < MAX_READS; i++) {
      const p = socket.receive();
      if (!p) return;
      if (p.len < 0) {
        this.drop("truncated");
        continue;
      }
      const a = this.advert;
      const why = readAdvert(p.data, p.off, p.len, p.src, p.dst, p.ttl, a);
      if (why) {
        this.drop(why);
        continue;
      }
      const r = runners.find((x) => x.cfg.vrid === a.vrid);
      if (!r) {
        this.drop("unknown-vrid");
        continue;
      }
      const cfg = r.cfg;
      if (a.version !== cfg.version) {
        this.drop("bad-version");
        this.reportOnce(
          r,
          `version`,
          `(${cfg.name}) received VRRP version ${a.version}, this instance runs version ${cfg.version}`,
        );
        continue;
      }
      if (cfg.version === 2 && !this.authOk(cfg, a.authType, a.auth)) {
        this.drop("bad-auth");
        this.reportOnce(r, "auth", `(${cfg.name}) received an advertisement with the wrong authentication`);
        continue;
      }
      if (cfg.version === 2 && a.interval !== Math.round(cfg.advertInt * 100)) {
        this.drop("bad-interval");
        this.reportOnce(
          r,
          "interval",
          `(${cfg.name}) advertisement interval mismatch: received ${a.interval / 100} s, configured ${cfg.advertInt} s`,
        );
        continue;
      }
      if (equalBytes(p.src, r.inst.localAddress)) {
        this.drop("own-address");
        continue;
      }
      if (cfg.version === 3 && a.interval !== Math.round(cfg.advertInt * 100))
        this.reportOnce(
          r,
          "interval3",
          `(${cfg.name}) the master advertises every ${a.interval / 100} s, this instance every ${cfg.advertInt} s (the master's is used)`,
        );
      r.inst.receive({ priority: a.priority, interval: a.interval, source: p.src.slice() }, now);
    }
  }

  private authOk(cfg: VrrpInstanceConfig, type: number, auth: Uint8Array): boolean {
    if (cfg.authPass === undefined) return type === VRRP_AUTH_NONE;
    return type === VRRP_AUTH_PASS && equalBytes(auth, passBytes(cfg.authPass));
  }

  /** A mismatch is logged once per instance and kind (as keepalived does), counted always. */
  private reportOnce(r: Runner, kind: string, message: string): void {
    const key = `${r.cfg.name}/${kind}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.opts.log.warn({ instance: r.cfg.name }, message);
  }

  private sendAdvert(r: Runner, priority: number): void {
    if (!r.socket) return;
    const cfg = r.cfg;
    const dsts =
      cfg.unicastPeers.length > 0
        ? cfg.unicastPeers.map((p) => p.toBytes())
        : [IpAddr.mustParse(cfg.family === 4 ? VRRP_GROUP_V4 : VRRP_GROUP_V6).toBytes()];
    const advert = {
      version: cfg.version,
      vrid: cfg.vrid,
      priority,
      interval: Math.round(cfg.advertInt * 100),
      authType: cfg.version === 2 && cfg.authPass !== undefined ? VRRP_AUTH_PASS : VRRP_AUTH_NONE,
      ...(cfg.authPass !== undefined ? { auth: passBytes(cfg.authPass) } : {}),
      addresses: cfg.vips.filter((v) => v.addr.family === cfg.family).map((v) => v.addr.toBytes()),
    };
    for (const dst of dsts) {
      const len = writeAdvert(this.msg, 0, advert, r.inst.localAddress, dst);
      if (!r.socket.send(this.msg, len, dst, r.ifindex, r.inst.localAddress))
        this.reportOnce(r, "send", `(${cfg.name}) cannot send an advertisement to ${addrText(dst)}`);
    }
  }

  private takeVips(r: Runner): void {
    const nl = hostRtnetlink();
    const addrs = this.vipAddresses(r);
    for (const a of addrs) {
      try {
        addAddress(nl, a);
      } catch (e) {
        this.opts.log.error(
          { instance: r.cfg.name, vip: a.addr.toString(), err: (e as Error).message },
          `(${r.cfg.name}) cannot add ${a.addr}`,
        );
      }
    }
    const burst = () => {
      for (let i = 0; i < r.cfg.garpMasterRepeat; i++) this.announce(r, addrs);
    };
    burst();
    for (const t of r.garpTimers) clearTimeout(t);
    r.garpTimers = [];
    if (r.cfg.garpMasterDelay > 0) {
      const t = setTimeout(() => r.inst.state === "MASTER" && burst(), r.cfg.garpMasterDelay * 1000);
      t.unref();
      r.garpTimers.push(t);
    }
    if (r.cfg.garpMasterRefresh > 0) {
      const t = setInterval(() => r.inst.state === "MASTER" && burst(), r.cfg.garpMasterRefresh * 1000);
      t.unref();
      r.garpTimers.push(t);
    }
  }

  private announce(r: Runner, addrs: InterfaceAddress[]): void {
    const an = this.announcer;
    if (!an) return;
    for (const a of addrs) {
      const link = [...this.links.values()].find((l) => l.ifindex === a.ifindex);
      const mac = link?.mac ?? r.mac;
      if (a.addr.family === 4) an.garp(a.ifindex, mac, a.addr.toBytes());
      else if (r.linkLocal) an.unsolicitedNa(a.ifindex, mac, r.linkLocal, a.addr.toBytes());
    }
  }

  private releaseVips(r: Runner): void {
    for (const t of r.garpTimers) clearTimeout(t);
    r.garpTimers = [];
    const nl = hostRtnetlink();
    for (const a of this.vipAddresses(r)) {
      try {
        deleteAddress(nl, a);
      } catch (e) {
        this.opts.log.error(
          { instance: r.cfg.name, vip: a.addr.toString(), err: (e as Error).message },
          `(${r.cfg.name}) cannot remove ${a.addr}`,
        );
      }
    }
  }

  private stateChanged(r: Runner, from: VrrpState, to: VrrpState, why: string): void {
    this.opts.log.info(
      { instance: r.cfg.name, from, to, priority: r.inst.priority, why },
      `(${r.cfg.name}) Entering ${to} STATE (${why})`,
    );
    this.opts.onTransition?.(r.cfg.name, from, to, why);
    if (to !== "INIT") this.notify(r.cfg.notify, "INSTANCE", r.cfg.name, to, r.inst.priority);
    const g = r.group;
    if (!g || this.moving || to === "INIT") return;
    // keepalived's vrrp_sync_group: the members move together.
    this.moving = true;
    try {
      const now = this.clock();
      for (const m of this.runners)
        if (m !== r && m.group === g) m.inst.follow(to, now, `sync group ${g.name} follows ${r.cfg.name}`);
      this.notify(g.notify, "GROUP", g.name, to, r.inst.priority);
    } finally {
      this.moving = false;
    }
  }

  /**
   * keepalived's rule for a sync group: a member takes over only when every other member could too
   * (masters already, or backups whose own master down timers ran out); a member in FAULT holds
   * the group back.
   */
  private groupMayTakeOver(r: Runner, now: number): boolean {
    const g = r.group;
    if (!g) return true;
    for (const m of this.runners) {
      if (m === r || m.group !== g) continue;
      if (m.inst.state === "FAULT") return false;
      if (m.inst.state === "BACKUP" && now < m.inst.deadline) return false;
    }
    return true;
  }

  /** notify_master/backup/fault (no arguments) and notify (TYPE NAME STATE PRIORITY), as keepalived calls them. */
  private notify(
    n: VrrpNotify,
    type: string,
    name: string,
    state: VrrpState | "STOP",
    priority: number,
  ): void {
    const specific: ScriptSpec | undefined =
      state === "MASTER" ? n.master : state === "BACKUP" ? n.backup : state === "FAULT" ? n.fault : n.stop;
    const run = (spec: ScriptSpec) => {
      const why = runNotifyScript(spec, {
        ...(this.opts.scriptUser ? { defaultUser: this.opts.scriptUser } : {}),
        secure: this.opts.scriptSecurity ?? false,
      });
      if (why) this.opts.log.warn({ script: spec.argv.join(" "), why }, `notify script not run: ${why}`);
    };
    if (specific) run(specific);
    if (n.any && state !== "STOP")
      run({ ...n.any, argv: [...n.any.argv, type, name, state, String(priority)] });
  }

  /** Tracked interfaces: the link's state read over rtnetlink every LINK_CHECK_MS. */
  private checkLinks(now: number, first: boolean): void {
    this.lastLinkCheck = now;
    let links: LinkRecord[];
    try {
      links = dumpLinks(hostRtnetlink());
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, "cannot read the links for track_interface");
      return;
    }
    const before = this.links;
    this.links = new Map(links.map((l) => [l.name, l]));
    const changed =
      first ||
      links.some((l) => {
        const b = before.get(l.name);
        return !b || b.flags.up !== l.flags.up || b.flags.lowerUp !== l.flags.lowerUp;
      }) ||
      before.size !== this.links.size;
    if (changed) this.retrack(now);
  }

  private linkUp(name: string): boolean {
    const l = this.links.get(name);
    return !!l && l.flags.up && l.flags.lowerUp;
  }

  /** Applies the tracked scripts and interfaces: priority moves by weights, weight 0 failing is a fault. */
  private retrack(now = this.clock()): void {
    for (const r of this.runners) {
      if (r.broken) continue;
      let fault: string | null = null;
      let priority = r.cfg.priority;
      if (!r.cfg.dontTrackPrimary && !this.linkUp(r.cfg.interface))
        fault = `interface ${r.cfg.interface} is down`;
      for (const t of r.cfg.trackInterfaces) {
        const up = this.linkUp(t.name) !== t.reverse;
        if (t.weight === 0) {
          if (!up) fault ??= `tracked interface ${t.name} is down`;
        } else if (t.weight > 0 ? up : !up) priority += t.weight;
      }
      for (const { script, weight, reverse } of r.scripts) {
        const ok = script.ok !== reverse;
        if (weight === 0) {
          if (!ok)
            fault ??= `tracked script ${script.config.name} ${reverse ? "succeeded (reverse)" : "failed"}`;
        } else if (weight > 0 ? ok : !ok) priority += weight;
      }
      if (priority !== r.inst.priority) {
        this.opts.log.info({ instance: r.cfg.name, priority }, `(${r.cfg.name}) priority now ${priority}`);
        r.inst.setPriority(priority, now);
      }
      if (fault !== r.inst.fault) r.inst.setFault(fault, now);
    }
  }

  listing(): VrrpListing {
    return {
      instances: this.runners.map((r) => ({
        name: r.cfg.name,
        state: r.inst.state,
        interface: r.cfg.interface,
        vrid: r.cfg.vrid,
        version: r.cfg.version,
        family: r.cfg.family,
        priority: r.inst.priority,
        configuredPriority: r.cfg.priority,
        advertInt: r.cfg.advertInt,
        vips: r.cfg.vips.map((v) => `${v.addr}/${v.prefixLen}`),
        master: r.inst.masterAddress ? addrText(r.inst.masterAddress) : null,
        fault: r.inst.fault,
        syncGroup: r.group?.name ?? null,
        transitions: r.inst.transitions,
        advertsSent: r.inst.advertsSent,
        advertsReceived: r.inst.advertsReceived,
      })),
      dropped: Object.fromEntries(this.dropped),
      garpSent: this.announcer?.sent ?? 0,
    };
  }

  /** Masters send priority 0 and give their VIPs back; notify_stop runs; sockets close. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const now = this.clock();
    for (const r of this.runners) {
      r.inst.stop(now);
      this.notify(r.cfg.notify, "INSTANCE", r.cfg.name, "STOP", r.inst.priority);
    }
    this.closeAll();
  }

  private closeAll(): void {
    for (const s of this.scripts.values()) s.stop();
    for (const r of this.runners) for (const t of r.garpTimers) clearTimeout(t);
    for (const s of this.sockets.values()) s.socket.close();
    this.sockets.clear();
    this.announcer?.close();
    this.announcer = null;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function linkIndex(name: string): number {
  return dumpLinks(hostRtnetlink()).find((l) => l.name === name)?.ifindex ?? 0;
}
