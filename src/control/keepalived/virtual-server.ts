import type { FwdMethod, TunCsum, TunType } from "../../core/dest.js";
import type { ScriptSpec } from "../health/check-spec.js";
import {
  CHECKER_KINDS,
  type CheckerDraft,
  IGNORED_CHECKERS,
  parseChecker,
  type TimingDraft,
  timingKeyword,
  unknown,
} from "./checkers.js";
import type { Pos } from "./diagnostics.js";
import type { Stmt } from "./tree.js";
import type { Values } from "./values.js";

/** keepalived's 14 schedulers; others (plugins) are accepted with a warning. */
export const KA_SCHEDULERS = new Set([
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "sh",
  "mh",
  "dh",
  "fo",
  "ovf",
  "lblcr",
  "sed",
  "nq",
  "twos",
]);

export interface Method {
  method: FwdMethod;
  tunType: TunType;
  tunPort: number;
  tunCsum: TunCsum;
}

export interface RsDraft {
  pos: Pos;
  addr: string;
  port?: number;
  weight?: number;
  method?: Method;
  uThreshold: number;
  lThreshold: number;
  inhibit?: boolean;
  notifyUp?: ScriptSpec;
  notifyDown?: ScriptSpec;
  timing: TimingDraft;
  checkers: CheckerDraft[];
}

export interface VsDraft {
  pos: Pos;
  /** `virtual_server IP [PORT]`, `fwmark N` or `group NAME`. */
  form:
    | { kind: "addr"; addr: string; port: number }
    | { kind: "fwmark"; fwmark: number }
    | { kind: "group"; name: string };
  scheduler?: string;
  method?: Method;
  protocol?: "TCP" | "UDP" | "SCTP";
  protocolPos?: Pos;
  persistence?: number;
  granularity?: string;
  pe?: string;
  ops: boolean;
  schedFlags: number;
  timing: TimingDraft;
  inhibit: boolean;
  omega: boolean;
  quorum: number;
  hysteresis: number;
  quorumUp?: ScriptSpec;
  quorumDown?: ScriptSpec;
  sorry?: { addr: string; port?: number };
  sorryInhibit: boolean;
  sorryMethod?: Method;
  haSuspend: boolean;
  /** `tslvs_sensor on|off` (a tslvs extension): the data-path sensor; absent: on. */
  sensor?: boolean;
  weight: number;
  family?: 4 | 6;
  laddrGroup?: string;
  rs: RsDraft[];
}

const U32 = 0xffffffff;
const INT_MAX = 2147483647;
/** DPVS keywords accepted and not acted on. */
const DPVS_VS = new Set([
  "syn_proxy",
  "proxy_protocol",
  "hash_target",
  "establish_timeout",
  "expire_quiescent_conn",
  "bps",
  "limit_proportion",
  "deny_address_group",
  "allow_address_group",
  "tunnel_group",
  "vip_bind_dev",
]);

/** `lvs_method` / `lb_kind`: NAT, DR, TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum], FNAT. */
export function parseMethod(v: Values, st: Stmt): Method | null {
  const w = st.words;
  if (!v.arity(st, 1, 6)) return null;
  const base: Method = { method: "masq", tunType: "ipip", tunPort: 0, tunCsum: "nocsum" };
  switch (w[1]) {
    case "NAT":
      if (w.length > 2) v.extra(st, 2);
      return base;
    case "DR":
      if (w.length > 2) v.extra(st, 2);
      return { ...base, method: "route" };
    case "FNAT":
      if (w.length > 2) v.extra(st, 2);
      return { ...base, method: "fullnat" };
    case "TUN": {
      const m: Method = { ...base, method: "tunnel" };
      let i = 2;
      if (w[i] === "type") {
        const t = w[i + 1];
        if (t !== "ipip" && t !== "gue" && t !== "gre") {
          v.diags.error(st.pos, `unknown tunnel type '${t ?? ""}' - ignoring`);
          return null;
        }
        m.tunType = t;
        i += 2;
        if (t === "gue") {
          const p = w[i] === "port" ? Number(w[i + 1]) : Number.NaN;
          if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) {
            v.diags.error(st.pos, "a gue tunnel needs port 1..65535 - ignoring");
            return null;
          }
          m.tunPort = p;
          i += 2;
        }
      }
      const cs = w[i];
      if (cs === "nocsum" || cs === "csum" || cs === "remcsum") {
        if (m.tunType === "ipip" || (m.tunType === "gre" && cs === "remcsum")) {
          v.diags.error(st.pos, `checksum option '${cs}' is not valid for ${m.tunType} - ignoring`);
          return null;
        }
        m.tunCsum = cs;
        i++;
      }
      if (i < w.length) v.extra(st, i);
      return m;
    }
    default:
      v.diags.error(st.pos, `invalid lvs_method '${w[1]}' - ignoring`);
      return null;
  }
}

/** `virtual_server ...` block. */
export function parseVirtualServer(v: Values, st: Stmt, notActedOn: (kind: string) => void): VsDraft | null {
  const w = st.words;
  let form: VsDraft["form"];
  if (w[1] === "fwmark" || w[1] === "group") {
    if (!v.arity(st, 2, 2)) return null;
    if (w[1] === "group") form = { kind: "group", name: w[2]! };
    else {
      // keepalived takes mark 0 here (and later drops the service); so does tslvs.
      const m = v.int(st, 2, 0, U32);
      if (m === null) return null;
      form = { kind: "fwmark", fwmark: m };
    }
  } else {
    if (!v.arity(st, 1, 2)) return null;
    let port = 0;
    if (w[2] !== undefined) {
      const p = v.int(st, 2, 0, 65535);
      if (p === null) return null;
      port = p;
    }
    form = { kind: "addr", addr: w[1]!, port };
  }
  const vs: VsDraft = {
    pos: st.pos,
    form,
    ops: false,
    schedFlags: 0,
    timing: {},
    inhibit: false,
    omega: false,
    quorum: 1,
    hysteresis: 0,
    sorryInhibit: false,
    haSuspend: false,
    weight: 1,
    rs: [],
  };
  for (const s of st.block ?? []) vsKeyword(v, s, vs, notActedOn);
  return vs;
}

function vsKeyword(v: Values, s: Stmt, vs: VsDraft, notActedOn: (kind: string) => void): void {
  const key = s.words[0]!;
  if (s.block && key !== "real_server") {
    v.diags.error(s.pos, `Unknown keyword '${key}'`);
    return;
  }
  if (timingKeyword(v, s, vs.timing, 1)) return;
  switch (key) {
    case "lvs_sched":
    case "lb_algo":
      if (v.arity(s, 1, 1)) {
        const name = s.words[1]!;
        if (!KA_SCHEDULERS.has(name)) {
          if (!/^[a-z][a-z0-9_]{0,14}$/.test(name)) {
            v.diags.error(s.pos, `invalid scheduler '${name}' - ignoring`);
            return;
          }
          v.diags.warn(
            s.pos,
            `scheduler '${name}' is not one of keepalived's (a tslvs plugin may provide it)`,
          );
        }
        vs.scheduler = name;
      }
      return;
    case "lvs_method":
    case "lb_kind": {
      const m = parseMethod(v, s);
      if (m) vs.method = m;
      return;
    }
    case "protocol":
      if (v.arity(s, 1, 1)) {
        const p = s.words[1]!.toUpperCase();
        if (p === "TCP" || p === "UDP" || p === "SCTP") {
          vs.protocol = p;
          vs.protocolPos = s.pos;
        } else v.diags.error(s.pos, `unknown protocol '${s.words[1]}' - ignoring`);
      }
      return;
    case "persistence_timeout":
      if (s.words.length === 1) vs.persistence = 360;
      else if (v.arity(s, 1, 1)) {
        const t = v.int(s, 1, 1, 2678400);
        if (t !== null) vs.persistence = t;
      }
      return;
    case "persistence_granularity":
      if (v.arity(s, 1, 1)) vs.granularity = s.words[1]!;
      return;
    case "persistence_engine":
      if (v.arity(s, 1, 1)) {
        if (s.words[1]!.length > 15)
          v.diags.error(s.pos, "persistence engine names are at most 15 characters");
        else vs.pe = s.words[1]!;
      }
      return;
    case "ops":
      if (v.bool(s)) vs.ops = true;
      return;
    case "sh-port":
    case "sh-fallback":
    case "mh-port":
    case "mh-fallback": {
      if (s.words.length > 1) v.extra(s, 1);
      const sched = key.slice(0, 2);
      if (vs.scheduler !== sched) {
        v.diags.error(s.pos, `${key} is only valid after 'lvs_sched ${sched}' - ignoring`);
        return;
      }
      vs.schedFlags |= key.endsWith("fallback") ? 0x08 : 0x10;
      return;
    }
    case "flag-1":
    case "flag-2":
    case "flag-3":
      if (s.words.length > 1) v.extra(s, 1);
      vs.schedFlags |= key === "flag-1" ? 0x08 : key === "flag-2" ? 0x10 : 0x20;
      return;
    case "hashed":
      return;
    case "inhibit_on_failure": {
      const b = v.bool(s);
      if (b !== null) vs.inhibit = b;
      return;
    }
    case "omega": {
      const b = v.bool(s);
      if (b !== null) vs.omega = b;
      return;
    }
    case "quorum":
      if (v.arity(s, 1, 1)) {
        const q = v.int(s, 1, 1, U32);
        vs.quorum = q ?? 1;
      }
      return;
    case "hysteresis":
      if (v.arity(s, 1, 1)) {
        const h = v.int(s, 1, 0, U32);
        if (h !== null) vs.hysteresis = h;
      }
      return;
    case "quorum_up":
    case "quorum_down": {
      const sc = v.script(s);
      if (sc) {
        if (key === "quorum_up") vs.quorumUp = sc;
        else vs.quorumDown = sc;
      }
      return;
    }
    case "sorry_server":
      if (v.arity(s, 1, 2)) {
        const port = s.words[2] === undefined ? undefined : v.int(s, 2, 0, 65535);
        if (port !== null) vs.sorry = { addr: s.words[1]!, ...(port !== undefined ? { port } : {}) };
      }
      return;
    case "sorry_server_inhibit":
      if (!vs.sorry) v.diags.error(s.pos, "sorry_server_inhibit before sorry_server - ignoring");
      else if (v.bool(s)) vs.sorryInhibit = true;
      return;
    case "sorry_server_lvs_method": {
      const m = parseMethod(v, s);
      if (m) vs.sorryMethod = m;
      return;
    }
    case "ha_suspend":
      // Pausing checks while the VIP is elsewhere needs a second director (VRRP): until then the
      // checks always run, and the option says so.
      if (v.bool(s)) {
        vs.haSuspend = true;
        notActedOn("ha_suspend");
      }
      return;
    case "tslvs_sensor": {
      // tslvs's own keyword (keepalived rejects it): the data-path health sensor of this service.
      const b = v.bool(s);
      if (b !== null) vs.sensor = b;
      return;
    }
    case "weight":
      if (v.arity(s, 1, 1)) {
        const n = v.int(s, 1, 1, INT_MAX);
        if (n !== null) vs.weight = n;
      }
      return;
    case "ip_family":
      if (v.arity(s, 1, 1)) {
        if (s.words[1] === "inet") vs.family = 4;
        else if (s.words[1] === "inet6") vs.family = 6;
        else v.diags.error(s.pos, `unknown ip_family '${s.words[1]}' - ignoring`);
      }
      return;
    case "laddr_group_name":
      if (v.arity(s, 1, 1)) vs.laddrGroup = s.words[1]!;
      return;
    case "smtp_alert":
    case "snmp_name":
      notActedOn(key);
      return;
    case "real_server": {
      const rs = parseRealServer(v, s, notActedOn);
      if (rs) vs.rs.push(rs);
      return;
    }
    default:
      if (DPVS_VS.has(key)) {
        notActedOn(key);
        return;
      }
      unknown(v, s);
  }
}

function parseRealServer(v: Values, st: Stmt, notActedOn: (kind: string) => void): RsDraft | null {
  if (!v.arity(st, 1, 2)) return null;
  let port: number | undefined;
  if (st.words[2] !== undefined) {
    const p = v.int(st, 2, 0, 65535);
    if (p === null) return null;
    port = p;
  }
  const rs: RsDraft = {
    pos: st.pos,
    addr: st.words[1]!,
    ...(port !== undefined ? { port } : {}),
    uThreshold: 0,
    lThreshold: 0,
    timing: {},
    checkers: [],
  };
  for (const s of st.block ?? []) {
    const key = s.words[0]!;
    if (s.block && !CHECKER_KINDS.has(key) && !IGNORED_CHECKERS.has(key)) {
      v.diags.error(s.pos, `Unknown keyword '${key}'`);
      continue;
    }
    if (CHECKER_KINDS.has(key)) {
      if (!s.block) v.diags.error(s.pos, `${key} needs a block`);
      else {
        const c = parseChecker(v, s);
        if (c) rs.checkers.push(c);
      }
      continue;
    }
    if (IGNORED_CHECKERS.has(key)) {
      v.diags.add(s.pos, "warning", `${key} is accepted but not acted on`, { strictOnly: true });
      notActedOn(key);
      continue;
    }
    if (timingKeyword(v, s, rs.timing, 0)) continue;
    switch (key) {
      case "weight":
        if (v.arity(s, 1, 1)) {
          const n = v.int(s, 1, 0, INT_MAX);
          if (n !== null) rs.weight = n;
        }
        break;
      case "lvs_method":
      case "lb_kind": {
        const m = parseMethod(v, s);
        if (m) rs.method = m;
        break;
      }
      case "uthreshold":
      case "lthreshold":
        if (v.arity(s, 1, 1)) {
          const n = v.int(s, 1, 0, U32);
          if (n !== null) {
            if (key === "uthreshold") rs.uThreshold = n;
            else rs.lThreshold = n;
          }
        }
        break;
      case "inhibit_on_failure": {
        const b = v.bool(s);
        if (b !== null) rs.inhibit = b;
        break;
      }
      case "notify_up":
      case "notify_down": {
        const sc = v.script(s);
        if (sc) {
          if (key === "notify_up") rs.notifyUp = sc;
          else rs.notifyDown = sc;
        }
        break;
      }
      case "smtp_alert":
      case "snmp_name":
        notActedOn(key);
        break;
      default:
        unknown(v, s);
    }
  }
  return rs;
}
