import type { DiagnosticSeverity, KeepalivedDiagnostic } from "./keepalived-config.js";

/** Where a statement came from. */
export interface Pos {
  file: string;
  line: number;
}

/** Collects the diagnostics of one read, in the order they are found. */
export class Diags {
  readonly list: KeepalivedDiagnostic[] = [];

  add(
    pos: Pos,
    severity: DiagnosticSeverity,
    message: string,
    extra: { strictOnly?: boolean; afterParse?: boolean } = {},
  ): void {
    this.list.push({ file: pos.file, line: pos.line, severity, message, ...extra });
  }
  warn(pos: Pos, message: string): void {
    this.add(pos, "warning", message);
  }
  error(pos: Pos, message: string): void {
    this.add(pos, "error", message);
  }
  fatal(pos: Pos, message: string): void {
    this.add(pos, "fatal", message);
  }
  /** A repair made once the block is read (keepalived reports these without a line). */
  repair(pos: Pos, message: string): void {
    this.add(pos, "warning", message, { afterParse: true });
  }
}

/** keepalived's own form: `(FILE: Line N) text`. */
export function formatDiagnostic(d: KeepalivedDiagnostic): string {
  return d.line > 0 ? `(${d.file}: Line ${d.line}) ${d.message}` : `(${d.file}) ${d.message}`;
}

/**
 * Diagnostics of checks keepalived's own parser does not make the same way (the VRRP values tslvs
 * runs on): passed on as warnings that count only under --strict, so `tslvs keepalived check`
 * keeps keepalived -t's exit code; `silent` drops them (a value the block reader already checked).
 */
export class TslvsOnlyDiags extends Diags {
  constructor(
    private readonly into: Diags,
    private readonly silent = false,
  ) {
    super();
  }
  override add(
    pos: Pos,
    _severity: DiagnosticSeverity,
    message: string,
    extra: { strictOnly?: boolean; afterParse?: boolean } = {},
  ): void {
    if (!this.silent) this.into.add(pos, "warning", message, { ...extra, strictOnly: true });
  }
}
