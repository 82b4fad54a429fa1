import { resolveTiming, type TimingLayer } from "../health/check-defaults.js";
import type { CheckerKind, CheckerSpec, ProbeSpec, ScriptSpec, UrlCheck } from "../health/check-spec.js";
import type { Pos } from "./diagnostics.js";
import type { Stmt } from "./tree.js";
import type { Values } from "./values.js";

/** The timing keywords a virtual server, a real server and a checker may each set (spec A.5-A.7). */
export interface TimingDraft extends TimingLayer {
  logAllFailures?: boolean;
  virtualhost?: string;
}

/** A checker as written, before the real server's and service's defaults are applied. */
export interface CheckerDraft {
  kind: CheckerKind;
  pos: Pos;
  timing: TimingDraft;
  connectIp?: string;
  connectPort?: number;
  bindto?: string;
  bindPort?: number;
  bindIf?: string;
  fwmark?: number;
  urls: (Omit<UrlCheck, "virtualhost"> & { virtualhost?: string })[];
  httpProtocol: "1.0" | "1.0C" | "1.1";
  fastRecovery: boolean;
  enableSni: boolean;
  sniName?: string;
  payload?: string;
  requireReply?: string;
  minReplyLength: number;
  maxReplyLength: number;
  dnsType: "A" | "NS" | "CNAME" | "SOA" | "MX" | "TXT" | "AAAA";
  dnsName: string;
  heloName: string;
  script?: ScriptSpec;
  miscTimeout?: number;
  miscDynamic: boolean;
  trackFile?: string;
  fileWeight?: number;
  fileReverse?: boolean;
}

export const CHECKER_KINDS: ReadonlySet<string> = new Set<CheckerKind>([
  "TCP_CHECK",
  "HTTP_GET",
  "SSL_GET",
  "UDP_CHECK",
  "DNS_CHECK",
  "SMTP_CHECK",
  "PING_CHECK",
  "MISC_CHECK",
  "FILE_CHECK",
]);

/** Checker blocks accepted and left out of the real server's checkers (spec A.7, A.14). */
export const IGNORED_CHECKERS: ReadonlySet<string> = new Set(["BFD_CHECK"]);

const DNS_TYPES = ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"] as const;
const U32 = 0xffffffff;

/**
 * Reads a timing keyword shared by virtual servers, real servers and checkers; false when `st`
 * is not one. `retryMin` is 1 on a virtual server (keepalived rejects 0 there) and 0 elsewhere.
 */
export function timingKeyword(v: Values, st: Stmt, t: TimingDraft, retryMin: number): boolean {
  const key = st.words[0]!;
  switch (key) {
    case "delay_loop":
      if (v.arity(st, 1, 1)) {
        const x = v.timer(st, 1, 1e-6);
        if (x !== null) t.delayLoop = x;
      }
      return true;
    case "connect_timeout":
      if (v.arity(st, 1, 1)) {
        const x = v.timer(st, 1, 1e-6);
        if (x !== null) t.connectTimeout = x;
      }
      return true;
    case "retry":
    case "nb_get_retry":
      if (key === "nb_get_retry") v.diags.warn(st.pos, "nb_get_retry is deprecated - use retry");
      if (v.arity(st, 1, 1)) {
        const x = v.int(st, 1, retryMin, U32);
        if (x !== null) t.retry = x;
      }
      return true;
    case "delay_before_retry":
      if (v.arity(st, 1, 1)) {
        const x = v.timer(st, 1);
        if (x !== null) t.delayBeforeRetry = x;
      }
      return true;
    case "warmup":
      if (v.arity(st, 1, 1)) {
        const x = v.timer(st, 1);
        if (x !== null) t.warmup = x;
      }
      return true;
    case "alpha": {
      const b = v.bool(st);
      if (b !== null) t.alpha = b;
      return true;
    }
    case "virtualhost":
      if (v.arity(st, 1, 1)) t.virtualhost = st.words[1]!;
      return true;
    default:
      return false;
  }
}

/** Reads one checker block. */
export function parseChecker(v: Values, st: Stmt): CheckerDraft | null {
  const kind = st.words[0] as CheckerKind;
  if (st.words.length > 1) v.extra(st, 1);
  const c: CheckerDraft = {
    kind,
    pos: st.pos,
    timing: {},
    urls: [],
    httpProtocol: "1.0",
    fastRecovery: false,
    enableSni: false,
    minReplyLength: 0,
    maxReplyLength: 255,
    dnsType: "SOA",
    dnsName: "",
    heloName: "smtpchecker.keepalived.org",
    miscDynamic: false,
  };
  const network = kind !== "MISC_CHECK" && kind !== "FILE_CHECK";
  for (const s of st.block ?? []) {
    const key = s.words[0]!;
    if (kind !== "FILE_CHECK" && key !== "virtualhost" && timingKeyword(v, s, c.timing, 0)) continue;
    if (kind !== "FILE_CHECK" && key === "log_all_failures") {
      const b = v.bool(s);
      if (b !== null) c.timing.logAllFailures = b;
      continue;
    }
    if (network && commonKeyword(v, s, c)) continue;
    if (kindKeyword(v, s, c)) continue;
    unknown(v, s);
  }
  if ((kind === "HTTP_GET" || kind === "SSL_GET") && c.urls.length === 0) {
    v.diags.repair(st.pos, `${kind} has no url - ignoring the checker`);
    return null;
  }
  if (kind === "MISC_CHECK" && !c.script) {
    v.diags.repair(st.pos, "MISC_CHECK has no misc_path - ignoring the checker");
    return null;
  }
  if (kind === "FILE_CHECK" && !c.trackFile) {
    v.diags.repair(st.pos, "FILE_CHECK has no track_file - ignoring the checker");
    return null;
  }
  return c;
}

export function unknown(v: Values, s: Stmt): void {
  v.diags.error(s.pos, `Unknown keyword '${s.words[0]}'`);
}

function commonKeyword(v: Values, s: Stmt, c: CheckerDraft): boolean {
  switch (s.words[0]) {
    case "connect_ip":
    case "bindto":
      if (v.arity(s, 1, 1)) {
        if (
          !/^[0-9a-fA-F.:]+$/.test(s.words[1]!) ||
          !(s.words[1]!.includes(".") || s.words[1]!.includes(":"))
        )
          v.diags.error(s.pos, `invalid address '${s.words[1]}' - ignoring`);
        else if (s.words[0] === "connect_ip") c.connectIp = s.words[1]!;
        else c.bindto = s.words[1]!;
      }
      return true;
    case "connect_port":
    case "bind_port":
      if (v.arity(s, 1, 1)) {
        const p = v.int(s, 1, 0, 65535);
        if (p !== null) {
          if (s.words[0] === "connect_port") c.connectPort = p;
          else c.bindPort = p;
        }
      }
      return true;
    case "bind_if":
      if (v.arity(s, 1, 1)) c.bindIf = s.words[1]!;
      return true;
    case "fwmark":
      if (v.arity(s, 1, 1)) {
        const m = v.int(s, 1, 0, U32);
        if (m !== null) c.fwmark = m;
      }
      return true;
    default:
      return false;
  }
}

function kindKeyword(v: Values, s: Stmt, c: CheckerDraft): boolean {
  const key = s.words[0]!;
  switch (c.kind) {
    case "HTTP_GET":
    case "SSL_GET":
      if (key === "url") {
        const u = parseUrl(v, s);
        if (u) c.urls.push(u);
        return true;
      }
      if (key === "virtualhost") {
        if (v.arity(s, 1, 1)) c.timing.virtualhost = s.words[1]!;
        return true;
      }
      if (key === "http_protocol") {
        if (v.arity(s, 1, 1)) {
          const p = s.words[1]!;
          if (p === "1.0" || p === "1.1" || p === "1.0C") c.httpProtocol = p;
          else if (p === "1.0c") c.httpProtocol = "1.0C";
          else v.diags.error(s.pos, `invalid http_protocol '${p}' - ignoring`);
        }
        return true;
      }
      if (key === "fast_recovery") {
        const b = v.bool(s);
        if (b !== null) c.fastRecovery = b;
        return true;
      }
      if (c.kind === "SSL_GET" && key === "enable_sni") {
        const b = v.bool(s);
        if (b !== null) c.enableSni = b;
        return true;
      }
      if (c.kind === "SSL_GET" && key === "sni_name") {
        if (v.arity(s, 1, 1)) c.sniName = s.words[1]!;
        return true;
      }
      if (c.kind === "SSL_GET" && key === "tls_compliant") {
        v.bool(s);
        return true;
      }
      return false;
    case "UDP_CHECK":
      if (key === "payload") {
        if (v.arity(s, 1, 1e9)) c.payload = looseHex(s.words.slice(1).join(" "), false) ?? "";
        return true;
      }
      if (key === "require_reply") {
        c.requireReply = s.words.length > 1 ? (looseHex(s.words.slice(1).join(" "), true) ?? "") : "";
        return true;
      }
      if (key === "min_reply_length" || key === "max_reply_length") {
        if (v.arity(s, 1, 1)) {
          const n = v.int(s, 1, 0, 65535);
          if (n !== null) {
            if (key === "min_reply_length") c.minReplyLength = n;
            else c.maxReplyLength = n;
          }
        }
        return true;
      }
      return false;
    case "DNS_CHECK":
      if (key === "type") {
        if (v.arity(s, 1, 1)) {
          const t = s.words[1]!.toUpperCase();
          if ((DNS_TYPES as readonly string[]).includes(t)) c.dnsType = t as CheckerDraft["dnsType"];
          else v.diags.error(s.pos, `DNS_CHECK type '${s.words[1]}' is invalid - ignoring`);
        }
        return true;
      }
      if (key === "name") {
        if (v.arity(s, 1, 1)) c.dnsName = s.words[1]!;
        return true;
      }
      return false;
    case "SMTP_CHECK":
      if (key === "helo_name") {
        if (v.arity(s, 1, 1)) c.heloName = s.words[1]!;
        return true;
      }
      return false;
    case "MISC_CHECK":
      if (key === "misc_path") {
        const sc = v.script(s);
        if (sc) c.script = { ...c.script, ...sc };
        return true;
      }
      if (key === "misc_timeout") {
        if (v.arity(s, 1, 1)) {
          // keepalived takes 0 too, and then uses the default.
          const n = v.int(s, 1, 0, U32);
          if (n) c.miscTimeout = n;
        }
        return true;
      }
      if (key === "misc_dynamic") {
        const b = v.bool(s);
        if (b !== null) c.miscDynamic = b;
        return true;
      }
      if (key === "user") {
        if (v.arity(s, 1, 2))
          c.script = {
            argv: c.script?.argv ?? [],
            user: s.words[1]!,
            // No `group: undefined` key: specs are compared by content across reloads and readers.
            ...(s.words[2] !== undefined ? { group: s.words[2] } : {}),
          };
        return true;
      }
      return false;
    case "FILE_CHECK":
      if (key === "track_file" || key === "file") {
        if (v.arity(s, 1, 1)) c.trackFile = s.words[1]!;
        return true;
      }
      if (key === "weight") {
        if (v.arity(s, 1, 2)) {
          const n = parseSigned(s.words[1]!);
          if (n === null) v.diags.error(s.pos, `weight '${s.words[1]}' is invalid - ignoring`);
          else c.fileWeight = n;
          const r = s.words[2];
          if (r === "reverse") c.fileReverse = true;
          else if (r === "noreverse") c.fileReverse = false;
          else if (r !== undefined) v.diags.error(s.pos, `unknown weight option '${r}'`);
        }
        return true;
      }
      return key === "dynamic";
    default:
      return false;
  }
}

function parseUrl(v: Values, st: Stmt): (Omit<UrlCheck, "virtualhost"> & { virtualhost?: string }) | null {
  let path: string | undefined;
  let digest: string | undefined;
  let virtualhost: string | undefined;
  let statusCodes: [number, number][] = [];
  for (const s of st.block ?? []) {
    const key = s.words[0]!;
    if (key === "path") {
      if (v.arity(s, 1, 1)) path = s.words[1]!;
    } else if (key === "digest") {
      if (v.arity(s, 1, 1)) {
        if (/^[0-9a-fA-F]{32}$/.test(s.words[1]!)) digest = s.words[1]!.toLowerCase();
        else v.diags.error(s.pos, `digest '${s.words[1]}' is not 32 hex digits - ignoring`);
      }
    } else if (key === "status_code") {
      if (v.arity(s, 1, 1e9)) {
        for (const w of s.words.slice(1)) {
          const m = /^([0-9]{3})(?:-([0-9]{3}))?$/.exec(w);
          const a = m ? Number(m[1]) : 0;
          const b = m?.[2] ? Number(m[2]) : a;
          if (!m || a < 100 || b > 599 || b < a)
            v.diags.error(s.pos, `status_code '${w}' is invalid - ignoring`);
          else statusCodes.push([a, b]);
        }
      }
    } else if (key === "virtualhost") {
      if (v.arity(s, 1, 1)) virtualhost = s.words[1]!;
    } else if (key.startsWith("regex")) {
      v.diags.add(s.pos, "warning", `${key} is accepted but not acted on`, { strictOnly: true });
    } else unknown(v, s);
  }
  if (path === undefined) {
    v.diags.repair(st.pos, "url has no path - ignoring");
    return null;
  }
  if (statusCodes.length === 0) statusCodes = [[200, 299]];
  return { path, digest, statusCodes, virtualhost };
}

function parseSigned(w: string): number | null {
  if (!/^-?[0-9]+$/.test(w)) return null;
  const n = Number(w);
  return n >= -2147483647 && n <= 2147483647 ? n : null;
}

/** keepalived's loose hex (`Ab12f 3 456` = AB 12 0F 03 45 06); `x` a wildcard nibble when allowed. */
export function looseHex(text: string, wildcard: boolean): string | null {
  let out = "";
  for (const group of text.split(/\s+/).filter(Boolean)) {
    if (!(wildcard ? /^[0-9a-fA-Fx]+$/ : /^[0-9a-fA-F]+$/).test(group)) return null;
    const g = group.length % 2 ? `${group.slice(0, -1)}0${group.slice(-1)}` : group;
    out += g.toLowerCase();
  }
  return out;
}

/** The values a checker inherits: from its real server, then its virtual server. */
export interface Inherited {
  rs: TimingDraft;
  vs: TimingDraft;
  /** The virtual server's own delay_loop (default DEFAULT_DELAY_LOOP): misc_timeout's default. */
  vsDelayLoop: number;
  rsAddr: string;
  rsPort: number;
  globalLogAllFailures: boolean;
  /** track_file blocks by name. */
  trackFiles: ReadonlyMap<string, { file: string; weight: number; reverse: boolean }>;
}

/** Resolves a checker: checker, then real server, then virtual server, then the type's default. */
export function resolveChecker(c: CheckerDraft, inh: Inherited): CheckerSpec | { error: string } {
  const timing = resolveTiming(
    c.kind,
    [c.timing, inh.rs, inh.vs],
    c.timing.logAllFailures ?? inh.globalLogAllFailures,
  );
  const target = {
    connectIp: c.connectIp ?? inh.rsAddr,
    connectPort: c.kind === "PING_CHECK" ? 0 : (c.connectPort ?? inh.rsPort),
    ...(c.bindto !== undefined ? { bindto: c.bindto } : {}),
    ...(c.bindPort !== undefined ? { bindPort: c.bindPort } : {}),
    ...(c.bindIf !== undefined ? { bindIf: c.bindIf } : {}),
    ...(c.fwmark !== undefined ? { fwmark: c.fwmark } : {}),
  };
  let probe: ProbeSpec;
  switch (c.kind) {
    case "HTTP_GET":
    case "SSL_GET": {
      const host = c.timing.virtualhost ?? inh.rs.virtualhost ?? inh.vs.virtualhost;
      const urls: UrlCheck[] = c.urls.map((u) => {
        const vh = u.virtualhost ?? host;
        const url: UrlCheck = { path: u.path, statusCodes: u.statusCodes };
        if (u.digest !== undefined) url.digest = u.digest;
        if (vh !== undefined) url.virtualhost = vh;
        return url;
      });
      probe = {
        kind: c.kind,
        target,
        urls,
        httpProtocol: c.httpProtocol,
        fastRecovery: c.fastRecovery,
        enableSni: c.enableSni,
        ...(c.sniName !== undefined ? { sniName: c.sniName } : {}),
      };
      break;
    }
    case "UDP_CHECK":
      probe = {
        kind: "UDP_CHECK",
        target,
        ...(c.payload !== undefined ? { payload: c.payload } : {}),
        ...(c.requireReply !== undefined ? { requireReply: c.requireReply } : {}),
        minReplyLength: c.minReplyLength,
        maxReplyLength: c.maxReplyLength,
      };
      break;
    case "DNS_CHECK":
      probe = { kind: "DNS_CHECK", target, type: c.dnsType, name: c.dnsName };
      break;
    case "SMTP_CHECK":
      probe = { kind: "SMTP_CHECK", target, heloName: c.heloName };
      break;
    case "MISC_CHECK":
      probe = {
        kind: "MISC_CHECK",
        script: c.script!,
        timeout: c.miscTimeout ?? inh.vsDelayLoop,
        dynamic: c.miscDynamic,
      };
      break;
    case "FILE_CHECK": {
      const tf = inh.trackFiles.get(c.trackFile!);
      if (!tf)
        return { error: `FILE_CHECK: track_file '${c.trackFile}' is not defined - ignoring the checker` };
      probe = {
        kind: "FILE_CHECK",
        trackName: c.trackFile!,
        file: tf.file,
        weight: c.fileWeight ?? tf.weight,
        reverse: c.fileReverse ?? (c.fileWeight === undefined ? tf.reverse : false),
      };
      break;
    }
    default:
      probe = { kind: c.kind, target };
  }
  return { probe, timing };
}
