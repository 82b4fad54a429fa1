/**
 * Keeps the data plane's firewall-mark rules equal to the host's nftables ruleset (iptables-nft's
 * rules included) plus the config's `fwmarks:`. The ruleset is read with `nft -j list ruleset`, a
 * process spawned off the packet loop, at start, whenever nfnetlink announces a ruleset change
 * (NFNLGRP_NFTABLES, read from a non-blocking socket every 200 ms), and every 30 s (interface names
 * in rules are resolved at each read). The compiled program is handed to the data plane only when
 * it differs from the last one. Every rule the compiler leaves out is logged once by its handle and
 * listed in getInfo (`tslvs status`). When the ruleset holds xtables extensions (iptables-nft's
 * rules), the text listing `nft -a list ruleset` is read too: nft prints them translated there.
 */
import { execFile } from "node:child_process";
import { EMPTY_MARK_PROGRAM, type MarkProgram } from "../dataplane/marks/mark-rules.js";
import { compileNftRuleset } from "../dataplane/marks/nft-compile.js";
import { ruleLinesByHandle } from "../dataplane/marks/nft-text-rules.js";
import { libc } from "../platform/libc.js";
import { NETLINK_NETFILTER, NFNLGRP_NFTABLES_BIT, RtnetlinkSocket } from "../platform/rtnetlink-socket.js";
import type { FwmarkRulesInfo } from "./api.js";
import { type FwmarkDecl, fwmarkRules, withConfigChain } from "./config-fwmarks.js";

export interface FwmarkRulesLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface FwmarkRulesOptions {
  log: FwmarkRulesLog;
  /** Hands a new program to the data plane. */
  apply: (program: MarkProgram) => void;
  /** The nft command (default "nft"). */
  nft?: string;
  /** Safety re-read period (default 30 s). */
  rereadMs?: number;
}

const CHECK_MS = 200;

function ifindexOf(name: string): number | null {
  return libc().if_nametoindex(name) || null;
}

export class FwmarkRules {
  private config: FwmarkDecl[] = [];
  private hostProgram: MarkProgram = EMPTY_MARK_PROGRAM;
  private applied = JSON.stringify(EMPTY_MARK_PROGRAM);
  private state: FwmarkRulesInfo = { nftables: "not read yet", nftRules: 0, configRules: 0, uncompiled: [] };
  private readonly reported = new Set<string>();
  private socket: RtnetlinkSocket | null = null;
  private timers: NodeJS.Timeout[] = [];
  private reading: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** Reads of the ruleset done (tests wait on it). */
  reads = 0;

  constructor(private readonly opts: FwmarkRulesOptions) {}

  /** Reads the ruleset once (awaited), then follows its changes. */
  async start(): Promise<void> {
    try {
      this.socket = RtnetlinkSocket.open(NFNLGRP_NFTABLES_BIT, NETLINK_NETFILTER);
      const t = setInterval(() => this.checkSocket(), CHECK_MS);
      t.unref();
      this.timers.push(t);
    } catch (e) {
      this.opts.log.warn(
        { err: (e as Error).message },
        "cannot follow nftables changes (nfnetlink): the ruleset is re-read every 30 s only",
      );
    }
    const r = setInterval(() => void this.reread(), this.opts.rereadMs ?? 30000);
    r.unref();
    this.timers.push(r);
    await this.reread();
  }

  /** The config's fwmarks entries (at start and on every reload). */
  setConfig(decls: readonly FwmarkDecl[]): void {
    this.config = [...decls];
    this.push();
  }

  info(): FwmarkRulesInfo {
    return { ...this.state, uncompiled: [...this.state.uncompiled] };
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.socket?.close();
    this.socket = null;
  }

  private checkSocket(): void {
    const s = this.socket;
    if (!s) return;
    let changed = false;
    try {
      for (let i = 0; i < 256; i++) {
        const n = s.receive();
        if (n === 0) break;
        changed = true;
      }
    } catch (e) {
      this.opts.log.warn(
        { err: (e as Error).message },
        "nfnetlink socket failed: re-reading every 30 s only",
      );
      s.close();
      this.socket = null;
      changed = true;
    }
    if (changed) void this.reread();
  }

  /** One read at a time; a change seen during a read makes one more. */
  reread(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        await this.readOnce();
      } while (this.again && !this.stopped);
      this.reading = null;
    })();
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    const text = await this.nft(["-j", "list", "ruleset"]);
    if (this.stopped) return;
    this.reads++;
    if ("err" in text) {
      if (this.state.nftables !== text.err) this.opts.log.warn({}, text.err);
      this.state = { ...this.state, nftables: text.err, nftRules: 0, uncompiled: [] };
      this.hostProgram = EMPTY_MARK_PROGRAM;
      this.push();
      return;
    }
    // iptables-nft's xtables extensions carry no arguments in JSON: their translation is in the text.
    let ruleLines: Map<string, string> | undefined;
    if (text.out.includes('"xt"')) {
      const listing = await this.nft(["-a", "list", "ruleset"]);
      if (this.stopped) return;
      if ("out" in listing) ruleLines = ruleLinesByHandle(listing.out);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text.out);
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, "nft -j list ruleset printed no JSON");
      return;
    }
    let compiled: ReturnType<typeof compileNftRuleset>;
    try {
      compiled = compileNftRuleset(doc, { ifindexOf, ...(ruleLines ? { ruleLines } : {}) });
    } catch (e) {
      // A shape of JSON the compiler does not expect: keep the rules in force, say so.
      this.opts.log.error({ err: (e as Error).message }, "could not compile the nftables ruleset");
      return;
    }
    for (const u of compiled.uncompiled) {
      const key = `${u.family} ${u.table} ${u.chain} handle ${u.handle}`;
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      this.opts.log.warn(
        { nftRule: { family: u.family, table: u.table, chain: u.chain, handle: u.handle }, reason: u.reason },
        `nftables rule not compiled, firewall-mark steering ignores it: ${key}: ${u.reason}`,
      );
    }
    this.hostProgram = compiled.program;
    this.state = {
      ...this.state,
      nftables: "read",
      nftRules: compiled.rules,
      uncompiled: compiled.uncompiled,
    };
    this.push();
  }

  /** Runs nft with `args`: its output, or why it failed. */
  private nft(args: string[]): Promise<{ out: string } | { err: string }> {
    return new Promise((resolve) => {
      execFile(
        this.opts.nft ?? "nft",
        args,
        { timeout: 10000, maxBuffer: 256 << 20 },
        (err, stdout, stderr) => {
          if (!err) resolve({ out: stdout });
          else if ((err as NodeJS.ErrnoException).code === "ENOENT")
            resolve({ err: "nft is not installed: the host's nftables rules are not read" });
          else resolve({ err: `nft ${args.join(" ")} failed: ${(stderr || err.message).trim()}` });
        },
      );
    });
  }

  /** Hands the combined program to the data plane when it changed. */
  private push(): void {
    const rules = fwmarkRules(this.config, ifindexOf);
    this.state = { ...this.state, configRules: rules.length };
    const program = withConfigChain(this.hostProgram, rules);
    const text = JSON.stringify(program);
    if (text === this.applied) return;
    try {
      this.opts.apply(program);
      this.applied = text;
      this.opts.log.info(
        {
          hooks: program.hooks.length,
          nftRules: this.state.nftRules,
          configRules: rules.length,
          notCompiled: this.state.uncompiled.length,
        },
        "firewall-mark rules applied",
      );
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, "could not apply the firewall-mark rules");
    }
  }
}
