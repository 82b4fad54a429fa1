/**
 * One attempt of a keepalived checker (spec A.7), whatever its kind: the `Probe` the health
 * checker runs. Every probe honours its timeout and the abort signal, frees what it opened on every
 * path, never throws, and measures its latency. A probe's `timeoutMs` is connect_timeout, except
 * MISC_CHECK's, which is misc_timeout.
 */
import type { Probe, ProbeResult } from "../check-spec.js";
import { errorReason } from "./attempt.js";
import { dnsProbe } from "./dns.js";
import { fileProbe } from "./file.js";
import { httpProbe } from "./http.js";
import { miscProbe } from "./misc.js";
import { pingProbe } from "./ping.js";
import { smtpProbe } from "./smtp.js";
import { tcpProbe } from "./tcp.js";
import { udpProbe } from "./udp.js";

export { httpUrlProbe } from "./http.js";

export const runProbe: Probe = async (spec, timeoutMs, signal): Promise<ProbeResult> => {
  try {
    switch (spec.kind) {
      case "TCP_CHECK":
        return await tcpProbe(spec.target, timeoutMs, signal);
      case "HTTP_GET":
      case "SSL_GET":
        return await httpProbe(spec, timeoutMs, signal);
      case "UDP_CHECK":
        return await udpProbe(spec, timeoutMs, signal);
      case "DNS_CHECK":
        return await dnsProbe(spec, timeoutMs, signal);
      case "SMTP_CHECK":
        return await smtpProbe(spec.target, spec.heloName, timeoutMs, signal);
      case "PING_CHECK":
        return await pingProbe(spec.target, timeoutMs, signal);
      case "MISC_CHECK":
        return await miscProbe(spec.script, spec.dynamic, timeoutMs, signal);
      case "FILE_CHECK":
        return await fileProbe(spec, timeoutMs, signal);
    }
  } catch (e) {
    // The probes catch their own errors; this is the last guard of "never throws".
    return { ok: false, reason: errorReason(e), latencyMs: 0 };
  }
};
