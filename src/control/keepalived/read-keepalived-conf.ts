import { readdirSync, readFileSync, realpathSync } from "node:fs";
import { hostname } from "node:os";
import { IpAddr } from "../../core/address.js";
import type { DaemonConfig, TimeoutValues } from "../api.js";
import { DEFAULT_TIMEOUTS } from "../desired-state.js";
import { emptyVrrpConfig } from "../vrrp/vrrp-config.js";
import { unknown } from "./checkers.js";
import { Diags } from "./diagnostics.js";
import type { KeepalivedConfig, KeepalivedGlobals } from "./keepalived-config.js";
import { Lexer, type LexOptions } from "./lexer.js";
import { GLOBAL_NOT_ACTED_ON, NOT_ACTED_ON_BLOCKS } from "./not-acted-on.js";
import { buildServices } from "./repairs.js";
import { buildTree, type Stmt } from "./tree.js";
import { Values } from "./values.js";
import { parseVirtualServer, type VsDraft } from "./virtual-server.js";
import { VRRP_ACTED_BLOCKS, VRRP_TOP_BLOCKS, VrrpReader } from "./vrrp.js";
import { type GroupEntry, parseGroup } from "./vs-group.js";

export interface ReadOptions {
  /** Matched by `@ID` lines (keepalived's -i); default the host name up to its first dot. */
  configId?: string;
}

const fsOptions: Omit<LexOptions, "configId"> = {
  readFile: (path) => {
    try {
      return { text: readFileSync(path, "utf8") };
    } catch (e) {
      return { error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
    }
  },
  realPath: (path) => {
    try {
      return realpathSync(path);
    } catch {
      return null;
    }
  },
  listDir: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return null;
    }
  },
};

/** Reads a keepalived.conf and the files it includes. An unreadable main file is fatal. */
export function readKeepalivedConf(file: string, opts: ReadOptions = {}): KeepalivedConfig {
  const r = fsOptions.readFile(file);
  if ("error" in r) {
    const diags = new Diags();
    diags.fatal({ file, line: 0 }, `Configuration file '${file}' cannot be read (${r.error})`);
    return { ...emptyConfig(), diagnostics: diags.list };
  }
  return parseKeepalivedText(r.text, file, opts);
}

/** Parses `text` as the keepalived.conf `file` (includes are read from the file system). */
export function parseKeepalivedText(
  text: string,
  file: string,
  opts: ReadOptions & { lex?: Partial<Omit<LexOptions, "configId">> } = {},
): KeepalivedConfig {
  const diags = new Diags();
  const lexer = new Lexer(diags, {
    ...fsOptions,
    ...opts.lex,
    configId: opts.configId ?? hostname().split(".")[0]!,
  });
  lexer.lexText(text, file);
  const lines = text.split(/\r?\n/).length;
  const tree = buildTree(lexer.tokens, diags, { file, line: lines });
  return new TopLevel(diags).read(tree);
}

function emptyConfig(): KeepalivedConfig {
  return {
    state: { timeouts: null, sysctls: {}, syncDaemons: [], services: [] },
    globals: defaultGlobals(),
    notActedOn: [],
    vrrp: emptyVrrpConfig(),
    diagnostics: [],
  };
}

function defaultGlobals(): KeepalivedGlobals {
  return {
    lvsFlush: false,
    enableScriptSecurity: false,
    checkerLogAllFailures: false,
    rsInitNotifies: false,
  };
}

class TopLevel {
  private readonly v: Values;
  private readonly globals = defaultGlobals();
  private readonly notActedOn: string[] = [];
  private timeouts: TimeoutValues | null = null;
  private readonly groups = new Map<string, GroupEntry[]>();
  private readonly laddrGroups = new Map<string, { addr: IpAddr; ifname: string }[]>();
  private readonly trackFiles = new Map<string, { file: string; weight: number; reverse: boolean }>();
  private readonly drafts: VsDraft[] = [];
  private readonly vrrp: VrrpReader;
  private syncDaemon: SyncDaemonDraft | null = null;

  constructor(private readonly diags: Diags) {
    this.v = new Values(diags);
    this.vrrp = new VrrpReader(this.v, this.nao);
  }

  private nao = (kind: string): void => {
    if (!this.notActedOn.includes(kind)) this.notActedOn.push(kind);
  };

  read(tree: Stmt[]): KeepalivedConfig {
    for (const st of tree) this.top(st);
    const services = buildServices(this.drafts, {
      diags: this.diags,
      globals: this.globals,
      groups: this.groups,
      laddrGroups: this.laddrGroups,
      trackFiles: this.trackFiles,
    });
    return {
      state: { timeouts: this.timeouts, sysctls: {}, syncDaemons: this.syncDaemons(), services },
      globals: this.globals,
      notActedOn: this.notActedOn,
      vrrp: this.vrrp.config,
      diagnostics: this.diags.list,
    };
  }

  private top(st: Stmt): void {
    const key = st.words[0]!;
    const needBlock = () => {
      if (!st.block) this.diags.error(st.pos, `${key} needs a block`);
      return !!st.block;
    };
    switch (key) {
      case "global_defs":
        if (needBlock()) for (const s of st.block!) this.global(s);
        return;
      case "virtual_server": {
        if (!needBlock()) return;
        const vs = parseVirtualServer(this.v, st, this.nao);
        if (vs) this.drafts.push(vs);
        return;
      }
      case "virtual_server_group": {
        if (!needBlock() || !this.v.arity(st, 1, 1)) return;
        const g = parseGroup(this.v, st);
        if (g === null) return;
        if (g.length === 0)
          this.diags.repair(st.pos, `virtual_server_group ${st.words[1]} is empty - ignoring`);
        this.groups.set(st.words[1]!, g);
        return;
      }
      case "local_address_group":
        if (needBlock() && this.v.arity(st, 1, 1)) this.laddrGroup(st);
        return;
      case "track_file":
      case "vrrp_track_file":
        if (needBlock() && this.v.arity(st, 1, 1)) this.trackFile(st);
        return;
      case "SSL":
        if (needBlock()) {
          for (const s of st.block!)
            if (!["password", "ca", "certificate", "key"].includes(s.words[0]!)) unknown(this.v, s);
          this.nao("SSL");
        }
        return;
      case "net_namespace":
      case "net_namespace_ipvs":
      case "instance":
        this.diags.fatal(st.pos, `${key} is not supported (tslvs would serve the wrong place)`);
        return;
      default:
        if (VRRP_TOP_BLOCKS.has(key)) {
          this.vrrp.read(st);
          if (!VRRP_ACTED_BLOCKS.has(key)) this.nao(key);
          return;
        }
        if (NOT_ACTED_ON_BLOCKS.has(key)) {
          this.nao(key);
          return;
        }
        unknown(this.v, st);
    }
  }

  private global(s: Stmt): void {
    const key = s.words[0]!;
    const g = this.globals;
    switch (key) {
      case "vrrp_version": {
        const n = this.v.int(s, 1, 2, 3);
        if (n !== null) this.vrrp.globalVersion = n as 2 | 3;
        return;
      }
      case "router_id":
        if (this.v.arity(s, 1, 1)) g.routerId = s.words[1]!;
        return;
      case "lvs_flush":
        if (s.words.length > 1) this.v.extra(s, 1);
        g.lvsFlush = true;
        return;
      case "lvs_timeouts":
        this.lvsTimeouts(s);
        return;
      case "script_user":
        if (this.v.arity(s, 1, 2))
          g.scriptUser = { user: s.words[1]!, ...(s.words[2] !== undefined ? { group: s.words[2] } : {}) };
        return;
      case "enable_script_security":
        if (s.words.length > 1) this.v.extra(s, 1);
        g.enableScriptSecurity = true;
        return;
      case "lvs_notify_fifo":
      case "notify_fifo":
        if (this.v.arity(s, 1, 3)) {
          if (key === "notify_fifo") g.notifyFifo = s.words[1]!;
          else g.lvsNotifyFifo = s.words[1]!;
        }
        return;
      case "checker_priority": {
        // keepalived's checker process priority is its nice value; here, the checker thread's.
        if (!this.v.arity(s, 1, 1)) return;
        const w = s.words[1]!;
        const n = /^-?[0-9]+$/.test(w) ? Number(w) : Number.NaN;
        if (n >= -20 && n <= 19) g.checkerPriority = n;
        else this.diags.error(s.pos, `checker_priority value '${w}' is invalid (-20..19) - ignoring`);
        return;
      }
      case "checker_cpu_affinity": {
        const cpus: number[] = [];
        for (let i = 1; i < s.words.length; i++) {
          const n = this.v.int(s, i, 0, 4095);
          if (n === null) return;
          cpus.push(n);
        }
        if (cpus.length > 0) g.checkerCpuAffinity = cpus;
        return;
      }
      case "checker_log_all_failures": {
        const b = this.v.bool(s);
        if (b !== null) g.checkerLogAllFailures = b;
        return;
      }
      case "lvs_sync_daemon":
        this.lvsSyncDaemon(s);
        return;
      case "rs_init_notifies":
        if (s.words.length > 1) this.v.extra(s, 1);
        g.rsInitNotifies = true;
        return;
      case "net_namespace":
      case "net_namespace_ipvs":
      case "instance":
        this.diags.fatal(s.pos, `${key} is not supported (tslvs would serve the wrong place)`);
        return;
      default:
        if (GLOBAL_NOT_ACTED_ON.has(key)) {
          this.nao(key);
          return;
        }
        unknown(this.v, s);
    }
  }

  /**
   * `lvs_sync_daemon IF [[inst] VI] [id N] [maxlen N] [port N] [ttl N] [group IP]`, checked as
   * keepalived checks it (an invalid option is reported and left out).
   */
  private lvsSyncDaemon(s: Stmt): void {
    const w = s.words;
    if (w.length < 2) {
      this.diags.error(s.pos, "lvs_sync_daemon requires interface");
      return;
    }
    if (w[1]!.length > 15) {
      this.diags.error(s.pos, `lvs_sync_daemon interface name '${w[1]}' is too long - ignoring`);
      return;
    }
    const d: SyncDaemonDraft = { ifname: w[1]! };
    const options = new Set(["inst", "id", "maxlen", "port", "ttl", "group"]);
    let i = 2;
    if (w[i] !== undefined && !options.has(w[i]!) && !/^[0-9]+$/.test(w[i]!)) d.instance = w[i++]!;
    for (; i < w.length; i++) {
      const k = w[i]!;
      const arg = w[i + 1];
      if (options.has(k) && arg === undefined) {
        this.diags.error(s.pos, `lvs_sync_daemon ${k} needs a value`);
        break;
      }
      switch (k) {
        case "inst":
          d.instance = arg!;
          break;
        case "id": {
          const n = this.v.int(s, i + 1, 0, 255);
          if (n !== null) d.syncId = n;
          break;
        }
        case "maxlen":
        case "port":
        case "ttl": {
          const n = this.v.int(s, i + 1, 1, k === "maxlen" ? 65507 : k === "port" ? 65535 : 255);
          if (n !== null) d[k] = n;
          break;
        }
        case "group": {
          const a = IpAddr.parse(arg!);
          const multicast = a && (a.family === 4 ? a.v4Value >>> 28 === 0xe : a.words[0]! >>> 24 === 0xff);
          if (!multicast)
            this.diags.error(s.pos, `lvs_sync_daemon group address ${arg} is not multicast - ignoring`);
          else d.group = a.toString();
          break;
        }
        default:
          if (/^[0-9]+$/.test(k))
            this.diags.error(s.pos, 'Please use keyword "id" before lvs_sync_daemon SYNCID');
          else this.diags.error(s.pos, `Unknown option ${k} specified for lvs_sync_daemon`);
          continue;
      }
      i++;
    }
    this.syncDaemon = d;
    if (d.instance !== undefined) this.globals.syncDaemonInstance = d.instance;
  }

  /**
   * The sync daemons lvs_sync_daemon asks for. Without a VRRP instance keepalived runs a master and
   * a backup daemon; with one, the daemon's role follows the instance's state: it starts with the
   * instance's configured initial state, and the daemon switches it on each VRRP transition. The
   * sync id defaults to the instance's virtual_router_id, else 0.
   */
  private syncDaemons(): DaemonConfig[] {
    const d = this.syncDaemon;
    if (!d) return [];
    const inst = d.instance !== undefined ? this.vrrp.instances.get(d.instance) : undefined;
    const base = {
      mcastIfn: d.ifname,
      syncId: d.syncId ?? inst?.virtualRouterId ?? 0,
      syncMaxLen: d.maxlen ?? 0,
      mcastGroup: d.group ?? "",
      mcastPort: d.port ?? 0,
      mcastTtl: d.ttl ?? 0,
    };
    if (d.instance === undefined)
      return [
        { state: "master", ...base },
        { state: "backup", ...base },
      ];
    return [{ state: inst?.state === "MASTER" ? "master" : "backup", ...base }];
  }

  /** `lvs_timeouts [tcp S] [tcpfin S] [udp S]`: the ones left out keep their defaults. */
  private lvsTimeouts(s: Stmt): void {
    const t: TimeoutValues = { ...(this.timeouts ?? DEFAULT_TIMEOUTS) };
    for (let i = 1; i < s.words.length; i += 2) {
      const k = s.words[i]!;
      if (k !== "tcp" && k !== "tcpfin" && k !== "udp") {
        this.diags.error(s.pos, `unknown lvs_timeouts option '${k}'`);
        break;
      }
      // 0 leaves the value as it is, as keepalived does.
      const n = this.v.int(s, i + 1, 0, 2678400);
      if (n) t[k] = n;
    }
    this.timeouts = t;
  }

  private laddrGroup(st: Stmt): void {
    const list: { addr: IpAddr; ifname: string }[] = [];
    for (const s of st.block ?? []) {
      const addr = IpAddr.parse(s.words[0]!);
      if (!addr || s.words.length < 2) {
        this.diags.error(s.pos, `local address entry '${s.words.join(" ")}' needs IP IFNAME - ignoring`);
        continue;
      }
      if (s.words.length > 2) this.v.extra(s, 2);
      list.push({ addr, ifname: s.words[1]! });
    }
    this.laddrGroups.set(st.words[1]!, list);
  }

  private trackFile(st: Stmt): void {
    let file: string | undefined;
    let weight = 1;
    let reverse = false;
    for (const s of st.block ?? []) {
      const k = s.words[0]!;
      if (k === "file") {
        if (this.v.arity(s, 1, 1)) file = s.words[1]!;
      } else if (k === "weight") {
        if (this.v.arity(s, 1, 2)) {
          const n = /^-?[0-9]+$/.test(s.words[1]!) ? Number(s.words[1]) : Number.NaN;
          if (!(Math.abs(n) <= 254)) this.diags.error(s.pos, `weight '${s.words[1]}' is invalid - ignoring`);
          else weight = n;
          if (s.words[2] === "reverse") reverse = true;
          else if (s.words[2] !== undefined) this.diags.error(s.pos, `unknown weight option '${s.words[2]}'`);
        }
      } else if (k === "init_file") {
        this.nao("init_file");
      } else unknown(this.v, s);
    }
    if (file === undefined) {
      this.diags.repair(st.pos, `track_file ${st.words[1]} has no file - ignoring`);
      return;
    }
    this.trackFiles.set(st.words[1]!, { file, weight, reverse });
  }
}

/** `lvs_sync_daemon` as written. */
interface SyncDaemonDraft {
  ifname: string;
  instance?: string;
  syncId?: number;
  maxlen?: number;
  port?: number;
  ttl?: number;
  group?: string;
}
