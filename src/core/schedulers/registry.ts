import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Dest } from "../dest.js";
import type { FlowPacket } from "../flow.js";
import type { Scheduler, SchedulerContext, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";
import { dh } from "./dh.js";
import { fo } from "./fo.js";
import { lblc } from "./lblc.js";
import { lblcr } from "./lblcr.js";
import { lc } from "./lc.js";
import { mh } from "./mh.js";
import { nq } from "./nq.js";
import { ovf } from "./ovf.js";
import { rr } from "./rr.js";
import { sed } from "./sed.js";
import { sh } from "./sh.js";
import { twos } from "./twos.js";
import { wlc } from "./wlc.js";
import { wrr } from "./wrr.js";

/** The kernel's 14 schedulers, in the order `ipvsadm -h` lists them. */
export const BUILTIN_SCHEDULERS: readonly SchedulerModule[] = [
  rr,
  wrr,
  lc,
  wlc,
  lblc,
  lblcr,
  dh,
  sh,
  sed,
  nq,
  fo,
  ovf,
  mh,
  twos,
];

/** Scheduler names are what ipvsadm can carry: at most 15 bytes (IP_VS_SCHEDNAME_MAXLEN 16 incl. NUL). */
const NAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

const registry = new Map<string, SchedulerModule>(BUILTIN_SCHEDULERS.map((m) => [m.name, m]));

export class SchedulerPluginError extends Error {
  override readonly name = "SchedulerPluginError";
}

/** The module registered under `name` (built-in or plugin), if any. */
export function getScheduler(name: string): SchedulerModule | undefined {
  return registry.get(name);
}

/** Every registered scheduler name: the built-ins first, then plugins in registration order. */
export function schedulerNames(): string[] {
  return [...registry.keys()];
}

/**
 * Register a scheduler module. Like the kernel's register_ip_vs_scheduler, a name can be
 * registered once; "none" is reserved (it means "no scheduler" to ipvsadm).
 */
export function registerScheduler(mod: SchedulerModule): void {
  const checked = checkModule(mod, "registerScheduler");
  if (registry.has(checked.name)) {
    throw new SchedulerPluginError(`a scheduler named "${checked.name}" is already registered`);
  }
  registry.set(checked.name, checked);
}

/** Remove a plugin scheduler (built-ins stay). Returns whether it was registered. */
export function unregisterScheduler(name: string): boolean {
  if (BUILTIN_SCHEDULERS.some((m) => m.name === name)) {
    throw new SchedulerPluginError(`"${name}" is a built-in scheduler and cannot be unregistered`);
  }
  return registry.delete(name);
}

/**
 * Load a scheduler plugin and register it. `spec` is a file path (absolute, or relative to the
 * current directory; anything starting with "." or "/" or ending in .js/.mjs/.cjs) or a package
 * name resolvable from tslvs's own installation. The module must export a SchedulerModule as its
 * default export or as `scheduler`. Its instances are guarded: a schedule() that throws or returns
 * something other than one of the service's dests counts as "no destination" (see docs/schedulers.md).
 */
export async function loadSchedulerPlugin(spec: string): Promise<SchedulerModule> {
  if (typeof spec !== "string" || spec.trim() === "") {
    throw new SchedulerPluginError("a scheduler plugin is named by a file path or a package name");
  }
  const looksLikePath = /^[./]/.test(spec) || isAbsolute(spec) || /\.[cm]?js$/.test(spec);
  const target = looksLikePath ? pathToFileURL(resolve(spec)).href : spec;
  let ns: Record<string, unknown>;
  try {
    ns = (await import(target)) as Record<string, unknown>;
  } catch (err) {
    throw new SchedulerPluginError(`cannot load scheduler plugin ${JSON.stringify(spec)}: ${errorText(err)}`);
  }
  const candidate = ns.default ?? ns.scheduler;
  if (candidate === undefined) {
    throw new SchedulerPluginError(
      `scheduler plugin ${JSON.stringify(spec)} has neither a default export nor an export named "scheduler"`,
    );
  }
  const mod = guarded(checkModule(candidate, `scheduler plugin ${JSON.stringify(spec)}`));
  registerScheduler(mod);
  return mod;
}

function checkModule(mod: unknown, what: string): SchedulerModule {
  if (typeof mod !== "object" || mod === null) {
    throw new SchedulerPluginError(
      `${what}: expected an object { name, create(svc, ctx) }, got ${typeof mod}`,
    );
  }
  const m = mod as { name?: unknown; create?: unknown };
  if (typeof m.name !== "string" || !NAME_RE.test(m.name)) {
    throw new SchedulerPluginError(
      `${what}: "name" must be 1-15 characters of letters, digits, "_", "." or "-" (got ${JSON.stringify(m.name)})`,
    );
  }
  if (m.name === "none") throw new SchedulerPluginError(`${what}: "none" is reserved`);
  if (typeof m.create !== "function") {
    throw new SchedulerPluginError(`${what}: "create" must be a function (svc, ctx) => Scheduler`);
  }
  return mod as SchedulerModule;
}

/** Wrap a plugin so a faulty instance cannot hand the data plane something that is not a dest. */
function guarded(mod: SchedulerModule): SchedulerModule {
  return {
    name: mod.name,
    create(svc: VirtualService, ctx: SchedulerContext): Scheduler {
      const inst = mod.create(svc, ctx) as Partial<Scheduler> | null | undefined;
      if (typeof inst !== "object" || inst === null || typeof inst.schedule !== "function") {
        throw new SchedulerPluginError(
          `scheduler "${mod.name}": create() must return an object with schedule()`,
        );
      }
      return new GuardedScheduler(mod.name, inst as Scheduler);
    },
  };
}

/** A plugin instance behind checks; `errors` and `lastError` tell what it did wrong. */
export class GuardedScheduler implements Scheduler {
  errors = 0;
  lastError: string | null = null;

  constructor(
    readonly name: string,
    readonly inner: Scheduler,
  ) {}

  schedule(svc: VirtualService, pkt: FlowPacket): Dest | null {
    let d: unknown;
    try {
      d = this.inner.schedule(svc, pkt);
    } catch (err) {
      return this.fail(`schedule() threw: ${errorText(err)}`);
    }
    if (d === null || d === undefined) return null;
    if (!(d instanceof Dest) || !d.available)
      return this.fail("schedule() returned something other than a dest");
    return d;
  }

  addDest(svc: VirtualService, dest: Dest): void {
    this.call("addDest", () => this.inner.addDest?.(svc, dest));
  }

  delDest(svc: VirtualService, dest: Dest): void {
    this.call("delDest", () => this.inner.delDest?.(svc, dest));
  }

  updDest(svc: VirtualService, dest: Dest): void {
    this.call("updDest", () => this.inner.updDest?.(svc, dest));
  }

  destChanged(svc: VirtualService, dest: Dest): void {
    if (this.inner.destChanged) this.call("destChanged", () => this.inner.destChanged?.(svc, dest));
  }

  done(svc: VirtualService): void {
    this.call("done", () => this.inner.done?.(svc));
  }

  private call(hook: string, f: () => void): void {
    try {
      f();
    } catch (err) {
      this.fail(`${hook}() threw: ${errorText(err)}`);
    }
  }

  private fail(message: string): null {
    this.errors++;
    this.lastError = message;
    return null;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
