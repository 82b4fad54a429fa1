import type { DesiredState } from "../desired-state.js";
import type { ScriptSpec } from "../health/check-spec.js";
import type { VrrpConfig } from "../vrrp/vrrp-config.js";

/**
 * What reading a keepalived.conf gives: the services it declares as a DesiredState (with their
 * checkers, quorum and sorry servers in the `health` fields), the global settings the checker side
 * acts on, the blocks and options accepted but not acted on, and every diagnostic with its file
 * and line. See docs/keepalived.md.
 */
export interface KeepalivedConfig {
  state: DesiredState;
  globals: KeepalivedGlobals;
  /** Kinds accepted but not acted on ("vrrp_instance", "lvs_sync_daemon", "smtp_alert"...), once each. */
  notActedOn: string[];
  /** The vrrp_instance / vrrp_script / vrrp_sync_group blocks, as the VRRP engine runs them. */
  vrrp: VrrpConfig;
  diagnostics: KeepalivedDiagnostic[];
}

export interface KeepalivedGlobals {
  routerId?: string;
  /** Remove services not declared by the file at start (lvs_flush). */
  lvsFlush: boolean;
  /** Who runs scripts without a user of their own (script_user; default root). */
  scriptUser?: { user: string; group?: string };
  enableScriptSecurity: boolean;
  /** One line per event (spec A.11). */
  lvsNotifyFifo?: string;
  notifyFifo?: string;
  checkerLogAllFailures: boolean;
  /** checker_priority: the checker thread's nice value, -20..19 (default: CHECKER_NICE). */
  checkerPriority?: number;
  /** checker_cpu_affinity: the CPUs the checker thread may run on (default: the daemon's). */
  checkerCpuAffinity?: number[];
  rsInitNotifies: boolean;
  /**
   * lvs_sync_daemon's VRRP instance: the sync daemon is the master while that instance is MASTER,
   * the backup otherwise, as keepalived switches it.
   */
  syncDaemonInstance?: string;
}

export type DiagnosticSeverity = "warning" | "error" | "fatal";

/**
 * One problem found in the file. `warning`: repaired or ignored as keepalived does (keepalived -t
 * exits 5); `error`: the line was ignored (also 5); `fatal`: the file cannot be run (4).
 */
export interface KeepalivedDiagnostic {
  file: string;
  /** 0 when the problem belongs to no line (a missing file). */
  line: number;
  severity: DiagnosticSeverity;
  message: string;
  /** Reported by tslvs only (keepalived is silent): counts toward exit 5 only under --strict. */
  strictOnly?: boolean;
  /** Found by a check made after the block was read (keepalived reports it without a line). */
  afterParse?: boolean;
}

/**
 * keepalived -t's exit code for a set of diagnostics: 0 clean, 5 repaired or ignored, 4 fatal.
 * Diagnostics keepalived does not make (`strictOnly`) count only when `strict`.
 */
export function checkExitCode(diagnostics: readonly KeepalivedDiagnostic[], strict = false): 0 | 4 | 5 {
  if (diagnostics.some((d) => d.severity === "fatal")) return 4;
  return diagnostics.some((d) => strict || !d.strictOnly) ? 5 : 0;
}

export type { ScriptSpec };
