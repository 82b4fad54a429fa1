import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  BUILTIN_SCHEDULERS,
  GuardedScheduler,
  getScheduler,
  loadSchedulerPlugin,
  registerScheduler,
  SchedulerPluginError,
  schedulerNames,
  unregisterScheduler,
} from "../src/core/schedulers/registry.js";
import { Fixture, label } from "./sched-fixture.js";

const dir = mkdtempSync(join(tmpdir(), "tslvs-sched-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function pluginFile(name: string, source: string): string {
  const p = join(dir, `${name}.mjs`);
  writeFileSync(p, source);
  return p;
}

test("the 14 kernel schedulers are registered under their kernel names", () => {
  const kernel = [
    "rr",
    "wrr",
    "lc",
    "wlc",
    "lblc",
    "lblcr",
    "dh",
    "sh",
    "sed",
    "nq",
    "fo",
    "ovf",
    "mh",
    "twos",
  ];
  assert.deepEqual(
    BUILTIN_SCHEDULERS.map((m) => m.name),
    kernel,
  );
  for (const name of kernel) {
    assert.equal(getScheduler(name)?.name, name);
    assert.ok(schedulerNames().includes(name));
  }
  assert.equal(getScheduler("nope"), undefined);
});

test("registerScheduler refuses duplicates, 'none', bad names and non-modules with clear errors", () => {
  assert.throws(
    () => registerScheduler({ name: "wlc", create: () => ({ name: "wlc", schedule: () => null }) }),
    {
      message: /already registered/,
    },
  );
  assert.throws(
    () => registerScheduler({ name: "none", create: () => ({ name: "none", schedule: () => null }) }),
    {
      message: /reserved/,
    },
  );
  assert.throws(() => registerScheduler({ name: "a-name-longer-than-15", create: () => ({}) as never }), {
    message: /1-15 characters/,
  });
  assert.throws(() => registerScheduler({ name: "x" } as never), { message: /"create" must be a function/ });
  assert.throws(() => registerScheduler(null as never), SchedulerPluginError);
  assert.throws(() => unregisterScheduler("rr"), { message: /built-in/ });
});

test("the example plugin loads by path, registers, and schedules by weight", async () => {
  const path = fileURLToPath(new URL("../../examples/schedulers/random-weighted.js", import.meta.url));
  const mod = await loadSchedulerPlugin(path);
  try {
    assert.equal(mod.name, "random-weighted");
    assert.equal(getScheduler("random-weighted"), mod);
    assert.ok(schedulerNames().includes("random-weighted"));
    const f = new Fixture("random-weighted");
    const a = f.add("10.0.0.1", 3);
    const b = f.add("10.0.0.2", 1); // list b(1) a(3): draws 0 → b, 1..3 → a
    f.ctx.draws = [0, 1, 3];
    assert.deepEqual([f.pick(), f.pick(), f.pick()], [b, a, a]);
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 4000; i++) counts[f.pick() === a ? "a" : "b"]++;
    assert.ok(Math.abs(counts.a / 4000 - 0.75) < 0.05, JSON.stringify(counts));
    f.setOverload(a, true);
    f.setWeight(b, 0);
    assert.equal(f.pick(), null);
    await assert.rejects(loadSchedulerPlugin(path), { message: /already registered/ });
  } finally {
    unregisterScheduler("random-weighted");
  }
});

test("a plugin may export `scheduler` instead of a default export", async () => {
  const p = pluginFile(
    "named",
    `export const scheduler = { name: "first-up", create: () => ({ name: "first-up",
       schedule: (svc) => svc.dests.find((d) => d.weight > 0 && !d.overloaded) ?? null }) };`,
  );
  await loadSchedulerPlugin(p);
  try {
    const f = new Fixture("first-up");
    f.add("10.0.0.1");
    f.add("10.0.0.2");
    assert.equal(label(f.pick()), "10.0.0.2");
  } finally {
    unregisterScheduler("first-up");
  }
});

test("bad plugins fail to load with an error that says what is wrong", async () => {
  await assert.rejects(loadSchedulerPlugin(join(dir, "missing.mjs")), {
    message: /cannot load scheduler plugin/,
  });
  await assert.rejects(loadSchedulerPlugin("no-such-package-for-tslvs"), {
    message: /cannot load scheduler plugin/,
  });
  await assert.rejects(loadSchedulerPlugin(""), SchedulerPluginError);
  const noExport = pluginFile("noexport", "export const other = 1;");
  await assert.rejects(loadSchedulerPlugin(noExport), { message: /neither a default export nor/ });
  const noCreate = pluginFile("nocreate", `export default { name: "nocreate" };`);
  await assert.rejects(loadSchedulerPlugin(noCreate), { message: /"create" must be a function/ });
  const syntax = pluginFile("syntax", "export default {");
  await assert.rejects(loadSchedulerPlugin(syntax), { message: /cannot load scheduler plugin/ });
  assert.equal(getScheduler("nocreate"), undefined);
});

test("a faulty plugin instance cannot hand out non-dests or throw into the data plane", async () => {
  const p = pluginFile(
    "faulty",
    `let mode = "throw";
     export function setMode(m) { mode = m; }
     export default { name: "faulty", create: () => ({ name: "faulty",
       schedule(svc) { if (mode === "throw") throw new Error("boom"); if (mode === "junk") return { addr: 1 };
         return svc.dests[0] ?? null; },
       addDest() { throw new Error("hook boom"); } }) };`,
  );
  const mod = await loadSchedulerPlugin(p);
  try {
    const f = new Fixture(mod);
    const d = f.add("10.0.0.1");
    const g = f.sched as GuardedScheduler;
    assert.ok(g instanceof GuardedScheduler);
    assert.equal(g.errors, 1);
    assert.match(g.lastError ?? "", /addDest\(\) threw: hook boom/);
    assert.equal(f.pick(), null);
    assert.match(g.lastError ?? "", /schedule\(\) threw: boom/);
    const ns = (await import(p)) as { setMode(m: string): void };
    ns.setMode("junk");
    assert.equal(f.pick(), null);
    assert.match(g.lastError ?? "", /something other than a dest/);
    ns.setMode("ok");
    assert.equal(f.pick(), d);
    assert.equal(g.errors, 3);
  } finally {
    unregisterScheduler("faulty");
  }
  const badCreate = pluginFile("badcreate", `export default { name: "badcreate", create: () => 42 };`);
  await loadSchedulerPlugin(badCreate);
  try {
    assert.throws(() => new Fixture("badcreate"), {
      message: /create\(\) must return an object with schedule\(\)/,
    });
  } finally {
    unregisterScheduler("badcreate");
  }
});
