/**
 * SMTP_CHECK: the server's banner must be 220, `HELO name` must get 250; then the probe says QUIT
 * and passes without waiting for the goodbye. Multi-line replies ("250-...") are read to their
 * last line.
 */
import type { ProbeResult, ProbeTarget } from "../check-spec.js";
import { attempt } from "./attempt.js";
import { openTcp } from "./tcp.js";

export function smtpProbe(
  target: ProbeTarget,
  heloName: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ProbeResult> {
  return attempt(timeoutMs, signal, (a) => {
    const sock = openTcp(a, target);
    let stage: "banner" | "helo" | "quit" = "banner";
    let buf = "";
    sock.setEncoding("latin1");
    sock.on("data", (chunk: string) => {
      if (stage === "quit") return;
      buf += chunk;
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl < 0) break;
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        const m = /^(\d{3})([ -]|$)/.exec(line);
        if (!m) return a.finish(false, `bad ${stage} reply`);
        if (m[2] === "-") continue; // a continuation line: the reply's code is on its last line
        const code = Number(m[1]);
        if (stage === "banner") {
          if (code !== 220) return a.finish(false, `banner ${code}`);
          stage = "helo";
          sock.write(`HELO ${heloName}\r\n`);
        } else {
          if (code !== 250) return a.finish(false, `helo ${code}`);
          // Passed; the attempt ends once QUIT has left (ending it first could drop the write).
          stage = "quit";
          sock.end("QUIT\r\n", () => a.finish(true, "ok"));
          return;
        }
      }
      if (buf.length > 4096) a.finish(false, `bad ${stage} reply`);
    });
    sock.on("end", () => {
      if (stage !== "quit") a.finish(false, `closed before ${stage} reply`);
    });
  });
}
