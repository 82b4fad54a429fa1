import {
  CAPTURE_DEFAULT_SECONDS,
  CAPTURE_MAX_SECONDS,
  type CaptureEntry,
  type Request,
  type TraceEntry,
} from "../control/api.js";
import { IpvsError } from "../core/errors.js";
import { PcapWriter } from "../net/pcap.js";
import { connectDaemon, parseQueryArgs } from "./connect-daemon.js";

const USAGE = `usage: tslvs trace -t|-u VIP:PORT --client ADDR:PORT [--json] [--socket PATH]
       tslvs trace -f FWMARK --dest ADDR:PORT [--proto tcp|udp] --client ADDR:PORT [--json] [--socket PATH]
       tslvs trace ... --capture FILE [--seconds N]   (record that connection's frames for N s, default ${CAPTURE_DEFAULT_SECONDS}, at most ${CAPTURE_MAX_SECONDS}, into a pcap file)`;

/** ipvsadm's short service options, as the long ones parseOptions knows. */
const SHORT: Record<string, string> = {
  "-t": "--tcp-service",
  "-u": "--udp-service",
  "-f": "--fwmark-service",
};

/** "198.18.0.10:80" or "[2001:db8::1]:80"; null when it is not that shape. */
export function splitHostPort(text: string): { addr: string; port: number } | null {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { addr: m[1]!, port } : null;
}

/** The trace request the arguments describe; a string says what is wrong with them. */
export function traceRequest(opts: Map<string, string[]>): Extract<Request, { op: "trace" }> | string {
  const one = (name: string) => opts.get(name)?.[0];
  const forms = ["tcp-service", "udp-service", "fwmark-service"].filter((n) => opts.has(n));
  if (forms.length !== 1) return "name the service with exactly one of -t, -u or -f";
  const clientText = one("client");
  if (clientText === undefined) return "--client ADDR:PORT is required";
  const client = splitHostPort(clientText);
  if (!client) return `--client: not ADDR:PORT: ${clientText}`;
  const form = forms[0]!;
  if (form !== "fwmark-service") {
    const text = one(form)!;
    const v = splitHostPort(text);
    if (!v) return `${form === "tcp-service" ? "-t" : "-u"}: not VIP:PORT: ${text}`;
    if (opts.has("dest") || opts.has("proto")) return "--dest and --proto go with -f only";
    const protocol = form === "tcp-service" ? "tcp" : "udp";
    return { op: "trace", protocol, client: client.addr, cport: client.port, vaddr: v.addr, vport: v.port };
  }
  const markText = one(form)!;
  if (!/^\d+$/.test(markText) || Number(markText) < 1 || Number(markText) > 0xffffffff)
    return `-f: not a firewall mark: ${markText}`;
  const destText = one("dest");
  if (destText === undefined) return "-f needs --dest ADDR:PORT (the address the client's packet is sent to)";
  const v = splitHostPort(destText);
  if (!v) return `--dest: not ADDR:PORT: ${destText}`;
  const proto = one("proto") ?? "tcp";
  if (proto !== "tcp" && proto !== "udp") return `--proto must be tcp or udp, not ${proto}`;
  return {
    op: "trace",
    protocol: proto,
    client: client.addr,
    cport: client.port,
    vaddr: v.addr,
    vport: v.port,
    fwmark: Number(markText),
  };
}

/** The capture request the trace arguments and --seconds describe; a string says what is wrong. */
export function captureRequest(
  trace: Extract<Request, { op: "trace" }>,
  secondsText: string | undefined,
): Extract<Request, { op: "capture" }> | string {
  let seconds = CAPTURE_DEFAULT_SECONDS;
  if (secondsText !== undefined) {
    if (!/^\d+$/.test(secondsText) || Number(secondsText) < 1 || Number(secondsText) > CAPTURE_MAX_SECONDS)
      return `--seconds must be 1..${CAPTURE_MAX_SECONDS}, not ${secondsText}`;
    seconds = Number(secondsText);
  }
  return { ...trace, op: "capture", seconds };
}

/** Writes a capture's frames to a pcap file (Ethernet) and closes it; returns how many were written. */
export function writeCapture(w: PcapWriter, c: CaptureEntry): number {
  try {
    for (const f of c.frames) {
      const b = Buffer.from(f.data, "base64");
      w.write(b, 0, b.length, f.t);
    }
  } finally {
    w.close();
  }
  if (w.error) throw new Error(`cannot write ${w.path}: ${w.error.message}`);
  return w.frames;
}

const OUTCOME: Record<TraceEntry["outcome"], string> = {
  connection: "existing connection",
  template: "persistence template",
  scheduler: "scheduler (dry run)",
  "no-destination": "no destination",
  untraceable: "cannot be traced",
};

/** The explanation as text: the service, then what decides and the real server it names. */
export function renderTrace(t: TraceEntry): string {
  const out: string[] = [];
  out.push(`service: ${t.service}  (${t.match})`);
  out.push(`  scheduler ${t.scheduler}${t.persistent ? ", persistent" : ""}`);
  out.push(`decided by: ${OUTCOME[t.outcome]}`);
  const c = t.connection;
  if (c) {
    const fp = c.fastPath === true ? "yes" : c.fastPath === false ? "no" : "unknown";
    out.push(`connection: ${c.state}, expires in ${c.expires} s, ${c.method} -> ${t.dest ?? "(bypass)"}`);
    out.push(`  held by the fast path: ${fp}`);
  }
  if (t.template)
    out.push(
      `persistence template: ${t.template.client} -> ${t.dest}  (${t.template.state}, expires in ${t.template.expires} s)`,
    );
  if (t.dests) {
    out.push(`real servers${t.loadRule ? ` (load = ${t.loadRule})` : ""}:`);
    if (t.dests.length === 0) out.push("  (none)");
    for (const d of t.dests) {
      const flags = [d.overloaded ? "OVERLOAD" : "", d.available ? "" : "unavailable"].filter(Boolean);
      const thr = d.uThreshold || d.lThreshold ? `  thresholds u${d.uThreshold}/l${d.lThreshold}` : "";
      const load = d.load === null ? "" : `  load ${Number(d.load.toFixed(4))}`;
      out.push(
        `  ${d.addr.includes(":") ? `[${d.addr}]` : d.addr}:${d.port}  weight ${d.weight}  active ${d.activeConns}  inactive ${d.inactConns}  overhead ${d.overhead}${load}${thr}${flags.length ? `  ${flags.join(" ")}` : ""}`,
      );
    }
  }
  if (t.odds) {
    out.push("candidates (random):");
    for (const o of t.odds) out.push(`  ${o.dest}  ${(o.p * 100).toFixed(1)}%`);
  }
  for (const n of t.notes) out.push(`note: ${n}`);
  if (t.outcome !== "connection") {
    if (t.dest) out.push(`=> ${t.dest}`);
    else if (t.outcome === "no-destination") out.push("=> no real server");
  }
  return `${out.join("\n")}\n`;
}

/**
 * `tslvs trace`: how a new packet of a client's tuple would be handled (service, existing
 * connection, persistence template, or the scheduler's inputs and dry-run choice), changing nothing.
 */
export async function traceCommand(args: string[]): Promise<number> {
  const parsed = parseQueryArgs(
    "trace",
    args.map((a) => SHORT[a] ?? a),
    USAGE,
    {
      "tcp-service": "value",
      "udp-service": "value",
      "fwmark-service": "value",
      client: "value",
      dest: "value",
      proto: "value",
      json: "flag",
      capture: "value",
      seconds: "value",
    },
  );
  if (!parsed) return 2;
  const req = traceRequest(parsed.opts);
  if (typeof req === "string") {
    process.stderr.write(`tslvs trace: ${req}\n${USAGE}\n`);
    return 2;
  }
  const capturePath = parsed.opts.get("capture")?.[0];
  if (capturePath === undefined && parsed.opts.has("seconds")) {
    process.stderr.write(`tslvs trace: --seconds goes with --capture\n${USAGE}\n`);
    return 2;
  }
  const capture = capturePath === undefined ? null : captureRequest(req, parsed.opts.get("seconds")?.[0]);
  if (typeof capture === "string") {
    process.stderr.write(`tslvs trace: ${capture}\n${USAGE}\n`);
    return 2;
  }
  // The file is opened first: a path that cannot be written fails before the capture's wait.
  let pcap: PcapWriter | null = null;
  if (capture !== null && capturePath !== undefined) {
    try {
      pcap = new PcapWriter(capturePath);
    } catch (e) {
      process.stderr.write(`tslvs trace: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const client = await connectDaemon("trace", parsed.path);
  if (!client) {
    pcap?.close();
    return 1;
  }
  try {
    if (capture !== null && pcap !== null && capturePath !== undefined) {
      let c: CaptureEntry;
      try {
        c = await client.call(capture);
      } catch (e) {
        pcap.close();
        throw e;
      }
      const n = writeCapture(pcap, c);
      const summary = {
        file: capturePath,
        frames: n,
        truncated: c.truncated,
        connection: c.connection,
      };
      if (parsed.opts.has("json")) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else
        process.stdout.write(
          `${n} frames written to ${capturePath}${c.truncated ? " (truncated: the frame or byte limit was reached)" : ""}${c.connection ? "" : " (the connection was not seen)"}\n`,
        );
      return 0;
    }
    const t = await client.call(req);
    process.stdout.write(parsed.opts.has("json") ? `${JSON.stringify(t)}\n` : renderTrace(t));
    return 0;
  } catch (e) {
    if (!(e instanceof IpvsError)) throw e;
    process.stderr.write(`tslvs trace: ${e.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
