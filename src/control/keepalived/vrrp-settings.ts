import { IpAddr } from "../../core/address.js";
import {
  type TrackedInterface,
  type TrackedScript,
  type VipSpec,
  VRRP_DEFAULTS,
  type VrrpInstanceConfig,
  type VrrpNotify,
  type VrrpScriptConfig,
  type VrrpSyncGroupConfig,
} from "../vrrp/vrrp-config.js";
import type { Stmt } from "./tree.js";
import type { Values } from "./values.js";

/**
 * The values of vrrp_instance, vrrp_script and vrrp_sync_group blocks that the VRRP engine acts
 * on (src/control/vrrp/), with keepalived.conf(5)'s defaults. Keywords of those blocks outside the
 * ACTED sets are accepted and reported as not acted on ("vrrp_instance use_vmac").
 */

/** The vrrp_instance keywords the engine acts on. */
export const ACTED_INSTANCE_KEYWORDS: ReadonlySet<string> = new Set([
  "state",
  "interface",
  "virtual_router_id",
  "priority",
  "advert_int",
  "version",
  "virtual_ipaddress",
  "nopreempt",
  "preempt",
  "preempt_delay",
  "unicast_src_ip",
  "unicast_peer",
  "authentication",
  "track_interface",
  "track_script",
  "dont_track_primary",
  "notify",
  "notify_master",
  "notify_backup",
  "notify_fault",
  "notify_stop",
  "garp_master_delay",
  "garp_master_repeat",
  "garp_master_refresh",
]);

export const ACTED_SYNC_GROUP_KEYWORDS: ReadonlySet<string> = new Set([
  "group",
  "notify",
  "notify_master",
  "notify_backup",
  "notify_fault",
  "notify_stop",
]);

export const ACTED_SCRIPT_KEYWORDS: ReadonlySet<string> = new Set([
  "script",
  "interval",
  "timeout",
  "weight",
  "rise",
  "fall",
  "init_fail",
]);

const SCOPES: Record<string, number> = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 };

function notifyKey(v: Values, s: Stmt, n: VrrpNotify): boolean {
  const map: Record<string, keyof VrrpNotify> = {
    notify: "any",
    notify_master: "master",
    notify_backup: "backup",
    notify_fault: "fault",
    notify_stop: "stop",
  };
  const k = map[s.words[0]!];
  if (!k) return false;
  const spec = v.script(s, 1);
  if (spec) n[k] = spec;
  return true;
}

/** One virtual_ipaddress line, or null (reported). */
function vipLine(v: Values, s: Stmt, name: string, notActedOn: (what: string) => void): VipSpec | null {
  const [text, ...rest] = s.words;
  const [a, len] = (text ?? "").split("/");
  const addr = IpAddr.parse(a ?? "");
  const max = addr?.family === 6 ? 128 : 32;
  const prefixLen = len === undefined ? max : /^[0-9]+$/.test(len) ? Number(len) : -1;
  if (!addr || prefixLen < 0 || prefixLen > max) {
    v.diags.error(s.pos, `(${name}) invalid virtual_ipaddress '${text ?? ""}' - ignoring`);
    return null;
  }
  const vip: VipSpec = { addr, prefixLen, scope: 0 };
  const WITH_VALUE = new Set(["dev", "label", "brd", "broadcast", "scope"]);
  for (let i = 0; i < rest.length; i++) {
    const key = rest[i]!;
    if (!WITH_VALUE.has(key)) {
      // peer, preferred_lft, home, nodad, no_track...: the address is kept, the option is not acted on.
      notActedOn(`virtual_ipaddress ${key}`);
      continue;
    }
    const val = rest[++i];
    if (val === undefined) {
      v.diags.error(s.pos, `(${name}) virtual_ipaddress ${text}: '${key}' needs a value - ignoring`);
      return null;
    }
    if (key === "dev") vip.dev = val;
    else if (key === "label") vip.label = val;
    else if (key === "scope") {
      const sc = SCOPES[val] ?? (/^[0-9]+$/.test(val) ? Number(val) : undefined);
      if (sc === undefined || sc > 255) {
        v.diags.error(s.pos, `(${name}) unknown scope '${val}' - ignoring the address`);
        return null;
      }
      vip.scope = sc;
    } else {
      const b = IpAddr.parse(val);
      if (b) vip.broadcast = b;
    }
  }
  return vip;
}

/**
 * A vrrp_instance block as the engine runs it, or null when it cannot run (keepalived removes such
 * an instance too: no router id or interface). `notActedOn` gets the keywords seen but not acted on.
 */
export function readInstance(
  v: Values,
  st: Stmt,
  globalVersion: 2 | 3 | undefined,
  notActedOn: (what: string) => void,
  /** For the values vrrp.ts has already checked and reported (router id, priority, advert_int). */
  checked: Values = v,
): VrrpInstanceConfig | null {
  const name = st.words[1] ?? "";
  const d = v.diags;
  const c: VrrpInstanceConfig = {
    name,
    initialState: "BACKUP",
    interface: "",
    vrid: 0,
    priority: VRRP_DEFAULTS.priority,
    advertInt: VRRP_DEFAULTS.advertInt,
    version: globalVersion ?? VRRP_DEFAULTS.version,
    family: 4,
    preempt: VRRP_DEFAULTS.preempt,
    preemptDelay: VRRP_DEFAULTS.preemptDelay,
    vips: [],
    unicastPeers: [],
    trackInterfaces: [],
    trackScripts: [],
    dontTrackPrimary: false,
    notify: {},
    garpMasterDelay: VRRP_DEFAULTS.garpMasterDelay,
    garpMasterRepeat: VRRP_DEFAULTS.garpMasterRepeat,
    garpMasterRefresh: VRRP_DEFAULTS.garpMasterRefresh,
  };
  let versionSet = false;
  for (const s of st.block ?? []) {
    const key = s.words[0]!;
    if (!ACTED_INSTANCE_KEYWORDS.has(key)) {
      notActedOn(`vrrp_instance ${key}`);
      continue;
    }
    if (notifyKey(v, s, c.notify)) continue;
    switch (key) {
      case "state":
        if (s.words[1] === "MASTER" || s.words[1] === "BACKUP") c.initialState = s.words[1];
        break;
      case "interface":
        if (v.arity(s, 1, 1)) c.interface = s.words[1]!;
        break;
      case "virtual_router_id":
        c.vrid = checked.int(s, 1, 1, 255) ?? c.vrid;
        break;
      case "priority":
        c.priority = checked.int(s, 1, 1, 255) ?? c.priority;
        break;
      case "advert_int": {
        const t = checked.timer(s, 1);
        if (t !== null && t >= 0.01 && t <= 255) c.advertInt = t;
        break;
      }
      case "version": {
        const n = v.int(s, 1, 2, 3);
        if (n !== null) {
          c.version = n as 2 | 3;
          versionSet = true;
        }
        break;
      }
      case "nopreempt":
        c.preempt = false;
        break;
      case "preempt":
        c.preempt = true;
        break;
      case "preempt_delay": {
        const t = v.timer(s, 1);
        if (t !== null && t <= 1000) c.preemptDelay = t;
        else if (t !== null) d.error(s.pos, `(${name}) preempt_delay ${t} not valid (0..1000) - ignoring`);
        break;
      }
      case "unicast_src_ip": {
        const a = IpAddr.parse(s.words[1] ?? "");
        if (a) c.unicastSrc = a;
        else d.error(s.pos, `(${name}) invalid unicast_src_ip '${s.words[1] ?? ""}' - ignoring`);
        break;
      }
      case "unicast_peer":
        for (const p of s.block ?? []) {
          const a = IpAddr.parse(p.words[0] ?? "");
          if (a) c.unicastPeers.push(a);
          else d.error(p.pos, `(${name}) invalid unicast peer '${p.words[0] ?? ""}' - ignoring`);
        }
        break;
      case "authentication":
        for (const a of s.block ?? []) {
          if (a.words[0] === "auth_type" && a.words[1] !== "PASS")
            notActedOn(`vrrp_instance authentication ${a.words[1] ?? ""}`);
          else if (a.words[0] === "auth_pass" && a.words[1] !== undefined) c.authPass = a.words[1];
        }
        break;
      case "virtual_ipaddress":
        for (const line of s.block ?? []) {
          const vip = vipLine(v, line, name, notActedOn);
          if (vip) c.vips.push(vip);
        }
        break;
      case "track_interface":
        for (const t of s.block ?? []) {
          const ti: TrackedInterface = { name: t.words[0]!, weight: 0, reverse: t.words[3] === "reverse" };
          if (t.words[1] === "weight") {
            const n = Number(t.words[2]);
            if (Number.isInteger(n) && n >= -253 && n <= 253) ti.weight = n;
            else
              d.error(
                t.pos,
                `(${name}) track_interface ${ti.name} weight '${t.words[2] ?? ""}' invalid - ignoring`,
              );
          }
          c.trackInterfaces.push(ti);
        }
        break;
      case "track_script":
        for (const t of s.block ?? []) {
          const ts: TrackedScript = { name: t.words[0]!, reverse: t.words[3] === "reverse" };
          if (t.words[1] === "weight") {
            const n = Number(t.words[2]);
            if (Number.isInteger(n) && n >= -253 && n <= 253) ts.weight = n;
            else
              d.error(
                t.pos,
                `(${name}) track_script ${ts.name} weight '${t.words[2] ?? ""}' invalid - ignoring`,
              );
          }
          c.trackScripts.push(ts);
        }
        break;
      case "dont_track_primary":
        c.dontTrackPrimary = true;
        break;
      case "garp_master_delay":
        c.garpMasterDelay = v.int(s, 1, 0, 255) ?? c.garpMasterDelay;
        break;
      case "garp_master_repeat":
        c.garpMasterRepeat = v.int(s, 1, 1, 255) ?? c.garpMasterRepeat;
        break;
      case "garp_master_refresh":
        c.garpMasterRefresh = v.int(s, 1, 0, 0x7fffffff) ?? c.garpMasterRefresh;
        break;
    }
  }
  if (c.vips.length > 0 && c.vips[0]!.addr.family === 6) {
    c.family = 6;
    // keepalived: IPv6 instances use version 3 (v2 is IPv4 only).
    if (!versionSet || c.version === 2) c.version = 3;
  }
  if (c.vrid === 0 || c.interface === "") return null;
  return c;
}

export function readScript(v: Values, st: Stmt, notActedOn: (what: string) => void): VrrpScriptConfig | null {
  const name = st.words[1] ?? "";
  let script = null;
  let timeout: number | null = null;
  const c = {
    name,
    interval: VRRP_DEFAULTS.scriptInterval as number,
    weight: VRRP_DEFAULTS.scriptWeight as number,
    rise: VRRP_DEFAULTS.scriptRise as number,
    fall: VRRP_DEFAULTS.scriptFall as number,
    initFail: false,
  };
  for (const s of st.block ?? []) {
    const key = s.words[0]!;
    if (!ACTED_SCRIPT_KEYWORDS.has(key)) {
      notActedOn(`vrrp_script ${key}`);
      continue;
    }
    switch (key) {
      case "script":
        script = v.script(s, 1);
        break;
      case "interval":
        c.interval = v.timer(s, 1) || c.interval;
        break;
      case "timeout":
        timeout = v.timer(s, 1);
        break;
      case "weight": {
        const n = Number(s.words[1]);
        if (Number.isInteger(n) && n >= -253 && n <= 253) c.weight = n;
        else
          v.diags.error(
            s.pos,
            `vrrp_script ${name} weight '${s.words[1] ?? ""}' invalid (-253..253) - ignoring`,
          );
        break;
      }
      case "rise":
        c.rise = v.int(s, 1, 1, 0x7fffffff) ?? c.rise;
        break;
      case "fall":
        c.fall = v.int(s, 1, 1, 0x7fffffff) ?? c.fall;
        break;
      case "init_fail":
        c.initFail = true;
        break;
    }
  }
  if (!script) return null;
  return { ...c, script, timeout: timeout || c.interval };
}

export function readSyncGroup(v: Values, st: Stmt, notActedOn: (what: string) => void): VrrpSyncGroupConfig {
  const g: VrrpSyncGroupConfig = { name: st.words[1] ?? "", members: [], notify: {} };
  for (const s of st.block ?? []) {
    const key = s.words[0]!;
    if (!ACTED_SYNC_GROUP_KEYWORDS.has(key)) {
      notActedOn(`vrrp_sync_group ${key}`);
      continue;
    }
    if (notifyKey(v, s, g.notify)) continue;
    if (key === "group") for (const m of s.block ?? []) g.members.push(m.words[0]!);
  }
  return g;
}
