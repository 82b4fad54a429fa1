/**
 * FILE_CHECK: the value of a tracked file. The value is the integer at the start of the file as
 * strtol reads it (blanks, then an optional sign and digits); an empty file or one that does not
 * start with a number reads as 0. A file that cannot be read fails the check ("cannot read:
 * ENOENT"): a missing signal is not taken for a healthy one. With weight 0 any non-zero value
 * fails; otherwise the check reports `weightDelta` = value x weight (negated with `reverse`) and
 * fails when that is <= -2^31.
 */
import { readFile } from "node:fs/promises";
import type { ProbeResult, ProbeSpec } from "../check-spec.js";
import { attempt } from "./attempt.js";

export type FileSpec = Extract<ProbeSpec, { kind: "FILE_CHECK" }>;

const INT_MIN = -(2 ** 31);

export function fileProbe(spec: FileSpec, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  return attempt(timeoutMs, signal, async (a) => {
    let text: string;
    try {
      text = await readFile(spec.file, "latin1");
    } catch (e) {
      return a.finish(false, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    a.finish(...fileVerdict(spec, trackedValue(text)));
  });
}

/** The value a tracked file holds (see the module comment). */
export function trackedValue(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** finish()'s arguments for a value read from the file. */
export function fileVerdict(spec: FileSpec, value: number): [boolean, string, Partial<ProbeResult>?] {
  if (spec.weight === 0) return value === 0 ? [true, "ok"] : [false, `value ${value}`];
  const product = value * spec.weight;
  const delta = spec.reverse ? -product : product;
  // 0 - 0 would be -0; keep the listings plain.
  const weightDelta = delta === 0 ? 0 : delta;
  if (weightDelta <= INT_MIN) return [false, `value ${value}`, { weightDelta }];
  return [true, `value ${value}`, { weightDelta }];
}
