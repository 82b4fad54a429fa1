import type { Request, TraceEntry } from "../control/api.js";
import { IpvsError } from "../core/errors.js";
import { connectDaemon, parseQueryArgs } from "./connect-daemon.js";

const USAGE = `usage: tslvs trace -t|-u VIP:PORT --client ADDR:PORT [--json] [--socket PATH]
       tslvs trace -f FWMARK --dest ADDR:PORT [--proto tcp|udp] --client ADDR:PORT [--json] [--socket PATH]`;

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
    },
  );
  if (!parsed) return 2;
  const req = traceRequest(parsed.opts);
  if (typeof req === "string") {
    process.stderr.write(`tslvs trace: ${req}\n${USAGE}\n`);
    return 2;
  }
  const client = await connectDaemon("trace", parsed.path);
  if (!client) return 1;
  try {
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
