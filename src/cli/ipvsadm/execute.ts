import type {
  ConnCursor,
  ConnEntry,
  ConnPage,
  DaemonConfig,
  InfoEntry,
  LaddrEntry,
  Request,
  ServiceEntry,
  ServiceId,
  TimeoutValues,
} from "../../control/api.js";
import { MAX_CONN_PAGE, pickDestConfig } from "../../control/api.js";
import type { IpvsClient } from "../../control/client.js";
import type { LookupEnv } from "./address-parse.js";
import { type ParsedCommand, parseCommand } from "./command.js";
import type { IpvsOperation } from "./errno-messages.js";
import { errnoOf } from "./errno-of.js";
import { CliExit, type Output, tryHelp } from "./exit.js";
import type { Namer } from "./names.js";

// Formatters load on demand: a command only pays for the listing it prints.
/** ipvsadm's text for a refusal (loaded only when something was refused). */
async function ipvsStrerror(op: IpvsOperation, errno: string): Promise<string> {
  return (await import("./errno-messages.js")).ipvsStrerror(op, errno);
}
const jsonOutput = () => import("./json-output.js");
const sorting = () => import("./sort.js");

/** Everything one invocation works with. */
export interface ExecEnv extends LookupEnv {
  argv0: string;
  o: Output;
  client: IpvsClient;
  readStdin(): Promise<string>;
}

/** ipvsadm's process_options: parse, check, send, print. Returns the status (0, or 255 on refusal). */
export async function processOptions(
  args: readonly string[],
  env: ExecEnv,
  readingStdin: boolean,
): Promise<number> {
  const ce = await parseCommand(env.argv0, args, env, env.o);
  if (ce === 255) return 255;
  const svcId = serviceId(ce);
  switch (ce.command) {
    case "list":
      await list(ce, env);
      return 0;
    case "save":
      await save(ce, env);
      return 0;
    case "restore": {
      // A nested -R would read the same stream again.
      if (readingStdin) tryHelp(env.o, env.argv0);
      const text = await env.readStdin();
      const { restoreJson, restoreLines } = await import("./restore.js");
      if (ce.format.json) return restoreJson(text, env);
      return restoreLines(text, (tokens) => processOptions(tokens, env, true));
    }
    case "flush":
      return send(env, "flush", { op: "flush" });
    case "add-service":
      return send(env, "add-service", { op: "addService", config: serviceConfig(ce) });
    case "edit-service":
      return send(env, "edit-service", { op: "editService", config: serviceConfig(ce) });
    case "delete-service":
      return send(env, "delete-service", { op: "delService", service: svcId! });
    case "zero":
      return send(env, "zero", svcId ? { op: "zero", service: svcId } : { op: "zero" });
    case "add-server":
      return send(env, "add-dest", { op: "addDest", service: svcId!, dest: destConfig(ce) });
    case "edit-server":
      return send(env, "edit-dest", { op: "editDest", service: svcId!, dest: destConfig(ce) });
    case "delete-server":
      return send(env, "delete-dest", {
        op: "delDest",
        service: svcId!,
        addr: ce.dest.addr,
        port: ce.dest.port,
      });
    case "set":
      return send(env, "set-timeout", { op: "setTimeout", timeout: ce.timeout });
    case "start-daemon":
      return send(env, "start-daemon", { op: "startDaemon", config: ce.daemon });
    case "stop-daemon":
      return send(env, "stop-daemon", { op: "stopDaemon", state: ce.daemon.state });
    case "add-laddr":
      return send(env, "add-laddr", {
        op: "addLaddr",
        service: svcId!,
        addr: ce.laddr.addr,
        ifname: ce.laddr.ifname,
      });
    case "del-laddr":
      return send(env, "del-laddr", { op: "delLaddr", service: svcId!, addr: ce.laddr.addr });
    case "get-laddr":
      return getLaddrs(ce, svcId, env);
    default:
      return 0;
  }
}

function serviceId(ce: ParsedCommand): ServiceId | undefined {
  const s = ce.svc;
  if (s.kind === "fwmark") return { fwmark: s.fwmark, af: s.af === 6 ? 6 : 4 };
  if (s.kind === "addr" && s.protocol !== "") return { protocol: s.protocol, addr: s.addr, port: s.port };
  return undefined;
}

function serviceConfig(ce: ParsedCommand) {
  const s = ce.svc;
  return {
    id: serviceId(ce)!,
    scheduler: s.scheduler,
    flags: s.flags,
    timeout: s.timeout,
    netmask: s.netmask,
    pe: s.pe,
  };
}

function destConfig(ce: ParsedCommand) {
  return pickDestConfig(ce.dest);
}

/** A set command: refusals print ipvsadm's text and give status 255 (a restore goes on). */
async function send(env: ExecEnv, op: IpvsOperation, req: Request): Promise<number> {
  try {
    await env.client.call(req);
    return 0;
  } catch (e) {
    env.o.error(await ipvsStrerror(op, errnoOf(e)));
    return 255;
  }
}

/** A query whose failure ends the process with status 1, message first unless `silent`. */
async function query<T>(env: ExecEnv, op: IpvsOperation, req: Request, message?: string): Promise<T> {
  try {
    return await env.client.call<T>(req);
  } catch (e) {
    if (message !== "") env.o.error(message ?? (await ipvsStrerror(op, errnoOf(e))));
    throw new CliExit(1);
  }
}

async function namerFor(numeric: boolean, addrs: () => Iterable<string>, env: ExecEnv): Promise<Namer> {
  const { NUMERIC, resolveNames } = await import("./names.js");
  if (numeric) return NUMERIC;
  return resolveNames(addrs(), env.resolver, env.services());
}

function serviceAddresses(services: readonly ServiceEntry[]): string[] {
  const out: string[] = [];
  for (const s of services) {
    if (s.id.addr !== undefined) out.push(s.id.addr);
    for (const d of s.dests) out.push(d.addr);
  }
  return out;
}

async function list(ce: ParsedCommand, env: ExecEnv): Promise<void> {
  const g = ce.given;
  const f = ce.format;
  const o = env.o;
  if (g.has("connection")) return listConns(ce, env);
  if (g.has("service-address")) {
    const formatter = import("./list-services.js");
    const svc = await query<ServiceEntry>(env, "get-service", { op: "getService", service: serviceId(ce)! });
    if (f.json) {
      const [{ listingJson, serviceJson }, { sortDests }] = await Promise.all([jsonOutput(), sorting()]);
      return o.print(listingJson(null, [serviceJson(svc, f.nosort ? svc.dests : sortDests(svc.dests))]));
    }
    const { formatServices } = await formatter;
    const namer = await namerFor(f.numeric, () => serviceAddresses([svc]), env);
    const out: string[] = [];
    formatServices([svc], f, namer, out);
    return o.print(out.join(""));
  }
  if (g.has("timeout")) {
    const t = await query<TimeoutValues>(env, "other", { op: "getTimeout" }, "");
    return o.print(
      f.json ? (await jsonOutput()).timeoutJson(t) : (await import("./list-misc.js")).formatTimeout(t),
    );
  }
  if (g.has("daemon")) {
    const d = await query<DaemonConfig[]>(env, "other", { op: "getDaemons" }, "");
    return o.print(
      f.json ? (await jsonOutput()).daemonsJson(d) : (await import("./list-misc.js")).formatDaemons(d),
    );
  }
  await listAll(ce, env);
}

/**
 * `-Lc`: the connection table, printed page by page as the daemon sends it, so neither side holds
 * the whole table. The first lines wait for the first page (a refused listing prints nothing on
 * standard output); names (without -n) are looked up for each page.
 */
async function listConns(ce: ParsedCommand, env: ExecEnv): Promise<void> {
  const f = ce.format;
  const o = env.o;
  const pages = connPages(env);
  const first = await pages.next();
  if (f.json) {
    const { connsJsonStart, connsJsonEntries, connsJsonEnd } = await jsonOutput();
    o.print(connsJsonStart());
    let listed = 0;
    for (let p = first; !p.done; p = await pages.next()) {
      o.print(connsJsonEntries(p.value, listed === 0));
      listed += p.value.length;
      await o.flush();
    }
    return o.print(connsJsonEnd(listed > 0));
  }
  const { connAddresses, connHeader, connLine } = await import("./list-conns.js");
  o.print(connHeader(f.persistentConn));
  for (let p = first; !p.done; p = await pages.next()) {
    const page = p.value;
    const namer = await namerFor(f.numeric, () => connAddresses(page), env);
    const out: string[] = [];
    for (const c of page) out.push(connLine(c, f.persistentConn, namer));
    o.print(out.join(""));
    await o.flush();
  }
}

/**
 * The daemon's connection table, one page at a time (a daemon that does not page answers the
 * whole table, which comes as one page). The next page is asked for as soon as a page arrives, so
 * the daemon reads it while this one is printed. A failed request prints ipvsadm's message for an
 * unreadable /proc/net/ip_vs_conn and ends the process with status 1.
 */
async function* connPages(env: ExecEnv): AsyncGenerator<ConnEntry[], void, undefined> {
  const fetchPage = (after: ConnCursor | null): Promise<unknown> => {
    const p = env.client.call<unknown>({ op: "getConns", after, limit: MAX_CONN_PAGE });
    // Awaited when its turn comes; until then a failure must not count as unhandled.
    p.catch(() => {});
    return p;
  };
  let pending = fetchPage(null);
  for (;;) {
    let reply: unknown;
    try {
      reply = await pending;
    } catch {
      reply = undefined;
    }
    if (Array.isArray(reply)) {
      yield reply as ConnEntry[];
      return;
    }
    if (!isConnPage(reply)) {
      env.o.error("cannot open file /proc/net/ip_vs_conn");
      throw new CliExit(1);
    }
    const next = reply.next;
    if (next !== null) pending = fetchPage(next);
    yield reply.conns;
    if (next === null) return;
  }
}

function isConnPage(r: unknown): r is ConnPage {
  if (typeof r !== "object" || r === null) return false;
  const p = r as Partial<ConnPage>;
  return Array.isArray(p.conns) && (p.next === null || typeof p.next === "number");
}

/** The whole table: version line, title, every service (ipvsadm's list_all). */
export async function listAll(ce: ParsedCommand | null, env: ExecEnv): Promise<void> {
  const f = ce?.format;
  // Both requests and the formatter modules are under way at once; the version line still comes
  // first, and a failing dump still leaves it printed, as in ipvsadm.
  const modules = Promise.all([import("./list-services.js"), sorting()]);
  const infoP = query<InfoEntry>(env, "other", { op: "getInfo" });
  const counters = !!(f && (f.stats || f.rate || f.json));
  const dumpP = query<ServiceEntry[]>(env, "get-services", { op: "getServices", counters });
  dumpP.catch(() => {});
  const [[{ formatServices, versionLine }, { sortDests, sortServices }], info] = await Promise.all([
    modules,
    infoP,
  ]);
  if (!f?.json) env.o.print(versionLine(info));
  const dump = await dumpP;
  const services = f?.nosort ? dump : sortServices(dump);
  if (f?.json) {
    const { listingJson, serviceJson } = await jsonOutput();
    const docs = services.map((s) => serviceJson(s, f.nosort ? s.dests : sortDests(s.dests)));
    return env.o.print(listingJson(info, docs));
  }
  const numeric = f?.numeric ?? false;
  const namer = await namerFor(numeric, () => serviceAddresses(services), env);
  const out: string[] = [];
  formatServices(
    services,
    f ?? {
      numeric: false,
      stats: false,
      rate: false,
      thresholds: false,
      persistentConn: false,
      nosort: false,
      exact: false,
      tunInfo: false,
      json: false,
    },
    namer,
    out,
  );
  env.o.print(out.join(""));
}

async function save(ce: ParsedCommand, env: ExecEnv): Promise<void> {
  const { sortDests, sortServices } = await sorting();
  // Rules only: the save format carries no counters.
  const dump = await query<ServiceEntry[]>(env, "get-services", { op: "getServices", counters: false });
  const services = sortServices(dump);
  if (ce.format.json) return env.o.print((await jsonOutput()).rulesJson(services, sortDests));
  const { formatSave } = await import("./save.js");
  const namer = await namerFor(ce.format.numeric, () => serviceAddresses(services), env);
  const out: string[] = [];
  formatSave(services, false, namer, out);
  env.o.print(out.join(""));
}

/** DPVS's -G: a service's local addresses, or every service's. */
async function getLaddrs(ce: ParsedCommand, svcId: ServiceId | undefined, env: ExecEnv): Promise<number> {
  const o = env.o;
  const { sortServices } = await sorting();
  let services: ServiceEntry[];
  try {
    services = svcId
      ? [await env.client.call<ServiceEntry>({ op: "getService", service: svcId })]
      : sortServices(await env.client.call<ServiceEntry[]>({ op: "getServices", counters: false }));
  } catch (e) {
    o.error(await ipvsStrerror(svcId ? "get-service" : "get-services", errnoOf(e)));
    return 255;
  }
  const entries: { service: ServiceEntry; laddrs: LaddrEntry[] }[] = [];
  for (const s of services) {
    try {
      entries.push({
        service: s,
        laddrs: await env.client.call<LaddrEntry[]>({ op: "getLaddrs", service: s.id }),
      });
    } catch (e) {
      o.error(await ipvsStrerror("get-laddrs", errnoOf(e)));
      return 255;
    }
  }
  if (ce.format.json) {
    o.print((await jsonOutput()).laddrsJson(entries));
    return 0;
  }
  const { formatLaddrs, laddrTitle } = await import("./list-misc.js");
  let text = entries.length > 0 ? laddrTitle() : "";
  for (const { service, laddrs } of entries) text += formatLaddrs(service, laddrs);
  o.print(text);
  return 0;
}
