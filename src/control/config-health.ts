import { isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from "yaml";
import { IpAddr, parseHostPort } from "../core/address.js";
import type { ServiceKey } from "../core/service.js";
import type { Field, Fields, Reader } from "./config.js";
import type { DesiredDest } from "./desired-state.js";
import { DEFAULT_DELAY_LOOP, resolveTiming, type TimingLayer } from "./health/check-defaults.js";
import type {
  CheckerKind,
  CheckerSpec,
  ProbeSpec,
  ProbeTarget,
  ScriptSpec,
  ServiceHealth,
  UrlCheck,
} from "./health/check-spec.js";
import { looseHex } from "./keepalived/checkers.js";
import { splitCommand } from "./keepalived/values.js";

/**
 * Health checks in the YAML configuration: a service's `health:` block and its real servers'
 * `checks:`, read into the same model a keepalived.conf gives (health/check-spec.ts), resolved the
 * same way (checker, then real server, then service, then the checker type's default). Values out
 * of keepalived's ranges refuse the file, like every other error of the YAML reader.
 * See docs/configuration.md, "Health checks".
 */

const U32 = 0xffffffff;
const INT_MAX = 2147483647;
/** keepalived's largest timer (seconds in an unsigned 32-bit count of microseconds, rounded down). */
const MAX_TIMER = 4294967;

const TIMING_KEYS = ["delay-loop", "connect-timeout", "retry", "delay-before-retry", "warmup", "alpha"];
const SERVICE_KEYS = [
  "quorum",
  "hysteresis",
  "quorum-up",
  "quorum-down",
  "sorry-server",
  "sorry-server-method",
  "sorry-server-inhibit",
  "omega",
  "ha-suspend",
  "sensor",
  "inhibit-on-failure",
  "virtualhost",
  ...TIMING_KEYS,
];
/** The keys a real server takes besides its ipvsadm settings (config.ts accepts them). */
export const SERVER_HEALTH_KEYS: readonly string[] = [
  "inhibit-on-failure",
  "notify-up",
  "notify-down",
  "checks",
  "virtualhost",
  ...TIMING_KEYS,
];

const KINDS: Record<string, CheckerKind> = {
  tcp: "TCP_CHECK",
  http: "HTTP_GET",
  https: "SSL_GET",
  udp: "UDP_CHECK",
  dns: "DNS_CHECK",
  smtp: "SMTP_CHECK",
  ping: "PING_CHECK",
  misc: "MISC_CHECK",
  file: "FILE_CHECK",
};
const TARGET_KEYS = ["connect-ip", "connect-port", "bindto", "bind-port", "bind-if", "fwmark"];
const CHECK_TIMING_KEYS = [...TIMING_KEYS, "log-all-failures"];
const HTTP_KEYS = ["urls", "virtualhost", "http-protocol", "fast-recovery"];
/** Each kind's keys, as keepalived takes them: MISC has no target, FILE neither target nor timing. */
const KIND_KEYS: Record<CheckerKind, readonly string[]> = {
  TCP_CHECK: [...TARGET_KEYS, ...CHECK_TIMING_KEYS],
  HTTP_GET: [...TARGET_KEYS, ...CHECK_TIMING_KEYS, ...HTTP_KEYS],
  SSL_GET: [...TARGET_KEYS, ...CHECK_TIMING_KEYS, ...HTTP_KEYS, "sni", "sni-name"],
  UDP_CHECK: [
    ...TARGET_KEYS,
    ...CHECK_TIMING_KEYS,
    "payload",
    "require-reply",
    "min-reply-length",
    "max-reply-length",
  ],
  DNS_CHECK: [...TARGET_KEYS, ...CHECK_TIMING_KEYS, "type", "name"],
  SMTP_CHECK: [...TARGET_KEYS, ...CHECK_TIMING_KEYS, "helo-name"],
  // A ping has no port: keepalived ignores connect_port there, the YAML refuses it.
  PING_CHECK: [...TARGET_KEYS.filter((k) => k !== "connect-port"), ...CHECK_TIMING_KEYS],
  MISC_CHECK: [...CHECK_TIMING_KEYS, "script", "timeout", "dynamic", "user", "group"],
  FILE_CHECK: ["file", "name", "weight", "reverse"],
};
const DNS_TYPES = ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"] as const;
const SORRY_METHODS = ["masq", "route", "tunnel", "fullnat"] as const;

/** One `servers:` item: its YAML node and the real server config.ts read from it. */
export interface ServerItem {
  node: Node;
  line: number;
  dest: DesiredDest;
}

interface Layer extends TimingLayer {
  virtualhost?: string;
}

/**
 * The service's health settings, filling in each real server's `health`; undefined when neither
 * the service nor any of its servers has a health key (the service is then not checked).
 */
export function readHealth(
  r: Reader,
  block: Field | undefined,
  servers: ServerItem[],
  key: ServiceKey,
): ServiceHealth | undefined {
  const hr = new HealthReader(r);
  const sf = block ? hr.map(block, "health", SERVICE_KEYS) : null;
  const perServer = servers.map((s) => {
    const all = r.fields(s.node, s.line, "a real server", null);
    return new Map([...all].filter(([k]) => SERVER_HEALTH_KEYS.includes(k))) as Fields;
  });
  if (!sf && perServer.every((f) => f.size === 0)) return undefined;
  const svc = sf ?? new Map();
  const vsLayer = hr.layer(svc, 1);
  const svcInhibit = hr.flag(svc, "inhibit-on-failure") ?? false;
  const vsDelayLoop = vsLayer.delayLoop ?? DEFAULT_DELAY_LOOP;
  servers.forEach((s, i) => {
    const f = perServer[i]!;
    const rsLayer = hr.layer(f, 0);
    const checkers: CheckerSpec[] = [];
    const checks = f.get("checks");
    if (checks) {
      for (const item of r.list(checks, "checks"))
        checkers.push(hr.check(item, checks.keyLine, s.dest, [rsLayer, vsLayer], vsDelayLoop));
    }
    const up = f.get("notify-up");
    const down = f.get("notify-down");
    s.dest.health = {
      checkers,
      inhibitOnFailure: hr.flag(f, "inhibit-on-failure") ?? svcInhibit,
      ...(up ? { notifyUp: hr.script(up, "notify-up") } : {}),
      ...(down ? { notifyDown: hr.script(down, "notify-down") } : {}),
    };
  });
  return hr.service(svc, servers, key);
}

class HealthReader {
  constructor(private readonly r: Reader) {}

  /** A mapping's entries; an empty value (`health:`, `tcp:`) is an empty mapping. */
  map(f: Field, what: string, allowed: readonly string[]): Fields {
    if (f.node === null || (isScalar(f.node) && f.node.value === null)) return new Map();
    return this.r.fields(f.node, f.keyLine, what, allowed);
  }

  flag(fs: Fields, k: string): boolean | undefined {
    const f = fs.get(k);
    if (!f) return undefined;
    const v = this.r.scalar(f, k);
    if (typeof v !== "boolean")
      this.r.fail(this.r.line(f.node) || f.keyLine, `${k} must be true or false, not ${show(v)}`);
    return v;
  }

  /** Seconds, up to 6 decimals (keepalived's timers), in min..MAX_TIMER. */
  timer(f: Field, k: string, min: number): number {
    const v = this.r.scalar(f, k);
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > MAX_TIMER)
      this.r.fail(
        this.r.line(f.node) || f.keyLine,
        `${k} must be seconds ${min > 0 ? "above 0" : "from 0"} up to ${MAX_TIMER}, not ${show(v)}`,
      );
    const t = Math.round(v * 1e6) / 1e6;
    if (t < min) this.r.fail(f.keyLine, `${k} must be at least 0.000001 s`);
    return t;
  }

  /** Text that may be empty. */
  text(f: Field, k: string): string {
    if (f.node === null || (isScalar(f.node) && f.node.value === null)) return "";
    const v = this.r.scalar(f, k);
    if (typeof v !== "string")
      this.r.fail(this.r.line(f.node) || f.keyLine, `${k} must be text, not ${show(v)}`);
    return v;
  }

  /** The timing a level sets; `retryMin` is 1 on a service (keepalived refuses 0 on a virtual server). */
  layer(fs: Fields, retryMin: number): Layer {
    const l: Layer = {};
    const get = (k: string) => fs.get(k);
    const dl = get("delay-loop");
    if (dl) l.delayLoop = this.timer(dl, "delay-loop", 1e-6);
    const ct = get("connect-timeout");
    if (ct) l.connectTimeout = this.timer(ct, "connect-timeout", 1e-6);
    const rt = get("retry");
    if (rt) l.retry = this.r.int(rt, retryMin, U32, "retry");
    const dbr = get("delay-before-retry");
    if (dbr) l.delayBeforeRetry = this.timer(dbr, "delay-before-retry", 0);
    const wu = get("warmup");
    if (wu) l.warmup = this.timer(wu, "warmup", 0);
    const alpha = this.flag(fs, "alpha");
    if (alpha !== undefined) l.alpha = alpha;
    const vh = get("virtualhost");
    if (vh) l.virtualhost = this.r.str(vh, "virtualhost");
    return l;
  }

  /** A command line (split like a shell's, without a shell), or `{command, user, group}`. */
  script(f: Field, k: string): ScriptSpec {
    const line = this.r.line(f.node) || f.keyLine;
    let cmd: string;
    let user: string | undefined;
    let group: string | undefined;
    if (isMap(f.node)) {
      const m = this.r.fields(f.node, line, k, ["command", "user", "group"]);
      const c = m.get("command");
      if (!c) this.r.fail(line, `${k} needs command:`);
      cmd = this.r.str(c, `${k} command`);
      const u = m.get("user");
      const g = m.get("group");
      if (u) user = this.r.str(u, "user");
      if (g) {
        if (!u) this.r.fail(g.keyLine, "group: needs user:");
        group = this.r.str(g, "group");
      }
    } else cmd = this.r.str(f, k);
    const argv = splitCommand(cmd);
    if (argv.length === 0) this.r.fail(line, `${k} needs a command`);
    return { argv, ...(user !== undefined ? { user } : {}), ...(group !== undefined ? { group } : {}) };
  }

  /** An address as text (canonical form). */
  addr(f: Field, k: string): string {
    const text = this.r.str(f, k);
    const a = IpAddr.parse(text);
    if (!a) this.r.fail(this.r.line(f.node) || f.keyLine, `${k} must be an IP address, not ${show(text)}`);
    return a.toString();
  }

  /** One `checks:` item: `- KIND: {settings}` (or just `- KIND`). */
  check(
    node: Node,
    listLine: number,
    dest: DesiredDest,
    layers: [Layer, Layer],
    vsDelayLoop: number,
  ): CheckerSpec {
    const line = this.r.line(node) || listLine;
    const known = Object.keys(KINDS).join(", ");
    let name: string;
    let body: Field;
    if (isScalar(node) && typeof node.value === "string") {
      name = node.value;
      body = { node: null, keyLine: line };
    } else {
      if (!isMap(node) || (node as YAMLMap).items.length !== 1)
        this.r.fail(line, `a check is one of ${known} with its settings (- tcp: {})`);
      const pair = (node as YAMLMap).items[0] as Pair<Node, Node | null>;
      name = isScalar(pair.key) ? String(pair.key.value) : "";
      body = { node: pair.value, keyLine: this.r.line(pair.key) || line };
    }
    const kind = KINDS[name];
    if (!kind) this.r.fail(body.keyLine, `unknown check ${show(name)} (known: ${known})`);
    const f = this.map(body, `a ${name} check`, KIND_KEYS[kind]);
    const own = this.layer(f, 0);
    const laf = this.flag(f, "log-all-failures") ?? false;
    const timing = resolveTiming(kind, [own, ...layers], laf);
    const probe = this.probe(kind, name, f, body.keyLine, dest, [own, ...layers], vsDelayLoop);
    return { probe, timing };
  }

  target(kind: CheckerKind, f: Fields, dest: DesiredDest): ProbeTarget {
    const cip = f.get("connect-ip");
    const cport = f.get("connect-port");
    const bindto = f.get("bindto");
    const bport = f.get("bind-port");
    const bif = f.get("bind-if");
    const mark = f.get("fwmark");
    const t: ProbeTarget = {
      connectIp: cip ? this.addr(cip, "connect-ip") : dest.addr.toString(),
      connectPort:
        kind === "PING_CHECK" ? 0 : cport ? this.r.int(cport, 0, 65535, "connect-port") : dest.port,
    };
    if (bindto) t.bindto = this.addr(bindto, "bindto");
    if (bport) t.bindPort = this.r.int(bport, 0, 65535, "bind-port");
    if (bif) {
      t.bindIf = this.r.str(bif, "bind-if");
      if (t.bindIf.length > 15) this.r.fail(bif.keyLine, "interface names are at most 15 characters");
    }
    if (mark) t.fwmark = this.r.int(mark, 0, U32, "fwmark");
    return t;
  }

  probe(
    kind: CheckerKind,
    name: string,
    f: Fields,
    line: number,
    dest: DesiredDest,
    layers: Layer[],
    vsDelayLoop: number,
  ): ProbeSpec {
    switch (kind) {
      case "HTTP_GET":
      case "SSL_GET":
        return this.http(kind, name, f, line, dest, layers);
      case "UDP_CHECK": {
        const p = f.get("payload");
        const rr = f.get("require-reply");
        const min = f.get("min-reply-length");
        const max = f.get("max-reply-length");
        const minReplyLength = min ? this.r.int(min, 0, 65535, "min-reply-length") : 0;
        const maxReplyLength = max ? this.r.int(max, 0, 65535, "max-reply-length") : 255;
        if (minReplyLength > maxReplyLength)
          this.r.fail(
            min!.keyLine,
            `min-reply-length ${minReplyLength} is above max-reply-length ${maxReplyLength}`,
          );
        const probe: ProbeSpec = {
          kind,
          target: this.target(kind, f, dest),
          minReplyLength,
          maxReplyLength,
        };
        if (p) probe.payload = this.hex(p, "payload", false);
        if (rr) probe.requireReply = rr.node === null ? "" : this.hex(rr, "require-reply", true);
        return probe;
      }
      case "DNS_CHECK": {
        const t = f.get("type");
        const n = f.get("name");
        let type: (typeof DNS_TYPES)[number] = "SOA";
        if (t) {
          const v = this.r.str(t, "type").toUpperCase();
          if (!(DNS_TYPES as readonly string[]).includes(v))
            this.r.fail(t.keyLine, `type must be one of ${DNS_TYPES.join(", ")}, not ${show(v)}`);
          type = v as typeof type;
        }
        return { kind, target: this.target(kind, f, dest), type, name: n ? this.text(n, "name") : "" };
      }
      case "SMTP_CHECK": {
        const h = f.get("helo-name");
        return {
          kind,
          target: this.target(kind, f, dest),
          heloName: h ? this.r.str(h, "helo-name") : "smtpchecker.keepalived.org",
        };
      }
      case "MISC_CHECK": {
        const s = f.get("script");
        if (!s) this.r.fail(line, "a misc check needs script:");
        const script = this.script(s, "script");
        const u = f.get("user");
        const g = f.get("group");
        if (u) script.user = this.r.str(u, "user");
        if (g) {
          if (!u) this.r.fail(g.keyLine, "group: needs user:");
          script.group = this.r.str(g, "group");
        }
        const t = f.get("timeout");
        return {
          kind,
          script,
          // keepalived's default: the virtual server's delay_loop, not the checker's.
          timeout: t ? this.r.int(t, 1, U32, "timeout") : vsDelayLoop,
          dynamic: this.flag(f, "dynamic") ?? false,
        };
      }
      case "FILE_CHECK": {
        const file = f.get("file");
        if (!file) this.r.fail(line, "a file check needs file:");
        const path = this.r.str(file, "file");
        const n = f.get("name");
        const w = f.get("weight");
        return {
          kind,
          trackName: n ? this.r.str(n, "name") : path,
          file: path,
          // keepalived's track_file weight defaults to 1; the checker's range is a signed int.
          weight: w ? this.r.int(w, -INT_MAX, INT_MAX, "weight") : 1,
          reverse: this.flag(f, "reverse") ?? false,
        };
      }
      default:
        return { kind, target: this.target(kind, f, dest) };
    }
  }

  hex(f: Field, k: string, wildcard: boolean): string {
    const text = this.text(f, k);
    const hex = looseHex(text, wildcard);
    const line = this.r.line(f.node) || f.keyLine;
    if (hex === null)
      this.r.fail(line, `${k} must be hex bytes${wildcard ? " (x: any nibble)" : ""}, not ${show(text)}`);
    if (hex === "" && !wildcard) this.r.fail(line, `${k} needs at least one byte`);
    return hex;
  }

  http(
    kind: "HTTP_GET" | "SSL_GET",
    name: string,
    f: Fields,
    line: number,
    dest: DesiredDest,
    layers: Layer[],
  ): ProbeSpec {
    const u = f.get("urls");
    const items = u ? this.r.list(u, "urls") : [];
    if (items.length === 0) this.r.fail(u?.keyLine ?? line, `an ${name} check needs urls: (one or more)`);
    // The Host header: the url's virtualhost, else the checker's, the real server's, the service's.
    const host = layers.find((l) => l.virtualhost !== undefined)?.virtualhost;
    const urls = items.map((item) => {
      const il = this.r.line(item) || u!.keyLine;
      const uf = this.r.fields(item, il, "a url", ["path", "status", "digest", "virtualhost"]);
      const p = uf.get("path");
      if (!p) this.r.fail(il, "a url needs path:");
      const url: UrlCheck = { path: this.r.str(p, "path"), statusCodes: [[200, 299]] };
      const st = uf.get("status");
      if (st) url.statusCodes = this.status(st);
      const dg = uf.get("digest");
      if (dg) {
        const v = this.r.scalar(dg, "digest");
        if (typeof v !== "string" || !/^[0-9a-fA-F]{32}$/.test(v))
          this.r.fail(dg.keyLine, `digest must be 32 hex digits (an MD5, quoted), not ${show(v)}`);
        url.digest = v.toLowerCase();
      }
      const vh = uf.get("virtualhost");
      const virtualhost = vh ? this.r.str(vh, "virtualhost") : host;
      if (virtualhost !== undefined) url.virtualhost = virtualhost;
      return url;
    });
    const hp = f.get("http-protocol");
    let httpProtocol: "1.0" | "1.0C" | "1.1" = "1.0";
    if (hp) {
      // Unquoted, YAML reads 1.0 as the number 1 and 1.1 as 1.1.
      const v = this.r.scalar(hp, "http-protocol");
      const text = v === 1 ? "1.0" : v === 1.1 ? "1.1" : typeof v === "string" ? v.toUpperCase() : "";
      if (text !== "1.0" && text !== "1.0C" && text !== "1.1")
        this.r.fail(hp.keyLine, `http-protocol must be "1.0", "1.0C" or "1.1", not ${show(v)}`);
      httpProtocol = text;
    }
    const sniName = f.get("sni-name");
    return {
      kind,
      target: this.target(kind, f, dest),
      urls,
      httpProtocol,
      fastRecovery: this.flag(f, "fast-recovery") ?? false,
      enableSni: this.flag(f, "sni") ?? false,
      ...(sniName ? { sniName: this.r.str(sniName, "sni-name") } : {}),
    };
  }

  /** `200`, `"200-299 301"`, or a list of codes and ranges; 100..599. */
  status(f: Field): [number, number][] {
    const nodes = isSeq(f.node) ? (f.node.items as Node[]) : [f.node];
    const out: [number, number][] = [];
    for (const n of nodes) {
      const line = this.r.line(n) || f.keyLine;
      const v = isScalar(n) ? n.value : null;
      const words =
        typeof v === "number" ? [String(v)] : typeof v === "string" ? v.split(/\s+/).filter(Boolean) : [];
      if (words.length === 0)
        this.r.fail(line, `status must be codes or ranges like "200-299 301", not ${show(v)}`);
      for (const w of words) {
        const m = /^([0-9]{3})(?:-([0-9]{3}))?$/.exec(w);
        const a = m ? Number(m[1]) : 0;
        const b = m?.[2] ? Number(m[2]) : a;
        if (!m || a < 100 || b > 599 || b < a)
          this.r.fail(line, `status ${show(w)} is not a code or range within 100..599`);
        out.push([a, b]);
      }
    }
    return out;
  }

  service(f: Fields, servers: ServerItem[], key: ServiceKey): ServiceHealth {
    const total = servers.reduce((s, x) => s + x.dest.weight, 0);
    const q = f.get("quorum");
    let quorum: number;
    if (q) {
      quorum = this.r.int(q, 1, U32, "quorum");
      if (quorum > total)
        this.r.fail(q.keyLine, `quorum ${quorum} is above the real servers' total weight ${total}`);
    } else quorum = Math.min(1, total); // keepalived lowers its default 1 to a total weight of 0 too
    const h = f.get("hysteresis");
    const hysteresis = h ? this.r.int(h, 0, U32, "hysteresis") : 0;
    if (hysteresis > 0 && hysteresis >= quorum)
      this.r.fail(h!.keyLine, `hysteresis ${hysteresis} must be below the quorum ${quorum}`);
    const up = f.get("quorum-up");
    const down = f.get("quorum-down");
    const haSuspend = this.flag(f, "ha-suspend") ?? false;
    if (haSuspend && key.kind === "fwmark")
      this.r.fail(f.get("ha-suspend")!.keyLine, "ha-suspend is not valid for a fwmark service");
    const health: ServiceHealth = {
      quorum,
      hysteresis,
      omega: this.flag(f, "omega") ?? false,
      haSuspend,
      // Only `false` is written, as keepalived.conf's tslvs_sensor does: absent means on.
      ...(this.flag(f, "sensor") === false ? { sensor: false } : {}),
      ...(up ? { quorumUp: this.script(up, "quorum-up") } : {}),
      ...(down ? { quorumDown: this.script(down, "quorum-down") } : {}),
    };
    const ss = f.get("sorry-server");
    const sm = f.get("sorry-server-method");
    const si = f.get("sorry-server-inhibit");
    if (!ss) {
      if (sm || si) this.r.fail((sm ?? si)!.keyLine, "sorry-server-method and -inhibit need sorry-server:");
      return health;
    }
    const text = this.r.str(ss, "sorry-server");
    const hp = parseHostPort(text);
    if (!hp)
      this.r.fail(
        ss.keyLine,
        `sorry-server must be address[:port] ([address]:port for IPv6), not ${show(text)}`,
      );
    // Default: the method the real servers share (keepalived: the virtual server's), else masq.
    const methods = new Set(servers.map((x) => x.dest.method));
    const shared = methods.size === 1 ? [...methods][0]! : "masq";
    const method = sm
      ? this.r.choice(sm, SORRY_METHODS, "sorry-server-method")
      : shared === "local"
        ? "masq"
        : shared;
    const family = key.kind === "addr" ? key.addr.family : key.family;
    if (hp.addr.family !== family && method !== "tunnel")
      this.r.fail(ss.keyLine, "a sorry server of another address family must be a tunnel server");
    const port = hp.port ?? (key.kind === "addr" ? key.port : 0);
    const inhibit = this.flag(f, "sorry-server-inhibit") ?? false;
    const same = servers.find((x) => x.dest.addr.equals(hp.addr) && x.dest.port === port);
    if (same && same.dest.health?.inhibitOnFailure !== inhibit)
      this.r.fail(
        (si ?? ss).keyLine,
        `the sorry server is real server ${text} too: give it the same inhibit setting (${same.dest.health?.inhibitOnFailure})`,
      );
    health.sorryServer = { addr: hp.addr.toString(), port, method, inhibit };
    return health;
  }
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}
