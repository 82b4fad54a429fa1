/**
 * The daemon on a keepalived.conf, in-process and without checks: keepalived's repairs start it
 * (with their warnings), `--strict` refuses them, a fatal file refuses to start, services added by
 * hand are left alone by a reload, and reload results (applied, refused) reach the caller.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { serviceJson } from "../src/cli/ipvsadm/json-output.js";
import type { DestEntry } from "../src/control/api.js";
import { connect } from "../src/control/client.js";
import { Daemon } from "../src/control/daemon.js";
import { tempDir } from "./support/control-fixtures.js";
import { RealDirector } from "./support/real-director.js";

/** A file keepalived repairs: no protocol (UDP, with a warning). */
const REPAIRED = `virtual_server 198.18.0.10 53 {
    lvs_sched rr
    real_server 198.19.0.1 53 {
        weight 2
    }
}
`;

async function start(file: string, strict = false): Promise<Daemon> {
  const tmp = tempDir("kad");
  return Daemon.start(
    {
      socketPath: join(tmp.dir, "tslvs.sock"),
      statePath: join(tmp.dir, "s.yaml"),
      logLevel: "silent",
      interfaces: [],
      keepalivedConf: file,
      strict,
    },
    { director: new RealDirector(), logger: pino({ level: "silent" }) },
  );
}

describe("the daemon on a keepalived.conf", () => {
  it("runs a repaired file as keepalived would; --strict refuses it; a fatal file refuses to start", async () => {
    const tmp = tempDir("kad-files");
    const file = join(tmp.dir, "keepalived.conf");
    writeFileSync(file, REPAIRED);
    const d = await start(file);
    try {
      const svc = d.director.services();
      assert.equal(svc.length, 1);
      assert.equal(
        svc[0]!.key.kind === "addr" && svc[0]!.key.protocol,
        17,
        "no protocol: UDP, as keepalived",
      );
      assert.equal(svc[0]!.dests[0]!.weight, 2);
    } finally {
      await d.stop("test");
    }
    await assert.rejects(start(file, true), /--strict/);
    writeFileSync(file, "virtual_server 198.18.0.10 80 {\n    lvs_sched rr\n");
    await assert.rejects(start(file), /cannot run this file/);
  });

  it("a reload leaves hand-made services alone and says when it refuses", async () => {
    const tmp = tempDir("kad-reload");
    const file = join(tmp.dir, "keepalived.conf");
    writeFileSync(file, REPAIRED);
    const d = await start(file);
    try {
      const c = await connect(d.options.socketPath);
      await c.call({
        op: "addService",
        config: {
          id: { protocol: "tcp", addr: "198.18.0.99", port: 80 },
          scheduler: "rr",
          flags: 0,
          timeout: 0,
          netmask: "255.255.255.255",
          pe: "",
        },
      });
      writeFileSync(file, REPAIRED.replace("weight 2", "weight 5"));
      assert.deepEqual(await c.call({ op: "reload" }), {
        applied: true,
        message: `${file} applied (1 services)`,
      });
      assert.equal(d.director.services().length, 2, "the hand-made service stays");
      assert.equal(
        d.director.services().find((s) => s.key.kind === "addr" && s.key.port === 53)!.dests[0]!.weight,
        5,
      );
      writeFileSync(file, REPAIRED.replace("weight 2", "wieght 5"));
      const refused = await c.call({ op: "reload" });
      assert.equal(refused.applied, false);
      assert.match(refused.message, /refused, running state unchanged.*wieght/);
      assert.equal(
        d.director.services().find((s) => s.key.kind === "addr" && s.key.port === 53)!.dests[0]!.weight,
        5,
      );
      c.close();
    } finally {
      await d.stop("test");
    }
  });
});

describe("health in the listings", () => {
  it("a checked real server's state shows in getServices and tslvsadm -L --json", async () => {
    const tmp = tempDir("kad-health");
    const flag = join(tmp.dir, "flag");
    writeFileSync(flag, "1\n");
    const file = join(tmp.dir, "keepalived.conf");
    writeFileSync(
      file,
      [
        "track_file flag {",
        `    file "${flag}"`,
        "    weight 0",
        "}",
        "virtual_server 198.18.0.10 80 {",
        "    lvs_sched rr",
        "    lvs_method NAT",
        "    protocol TCP",
        "    delay_loop 1",
        "    warmup 0",
        "    inhibit_on_failure",
        "    real_server 198.19.0.1 80 {",
        "        FILE_CHECK {",
        "            track_file flag",
        "        }",
        "    }",
        "    real_server 198.19.0.2 80 {",
        "    }",
        "}",
        "",
      ].join("\n"),
    );
    const d = await start(file);
    try {
      const c = await connect(d.options.socketPath);
      let dests: DestEntry[] = [];
      for (let i = 0; i < 50; i++) {
        dests = (await c.call({ op: "getServices" }))[0]!.dests;
        if (dests.some((x) => x.health?.state === "failed")) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const checked = dests.find((x) => x.addr === "198.19.0.1")!;
      assert.deepEqual(checked.health, { state: "failed", checkers: 1, failing: 1 });
      assert.equal(checked.weight, 0, "inhibit_on_failure: listed at weight 0");
      // Part of a checked service without checkers of its own: always alive (it counts in the quorum).
      assert.deepEqual(dests.find((x) => x.addr === "198.19.0.2")!.health, {
        state: "alive",
        checkers: 0,
        failing: 0,
      });
      const svc = (await c.call({ op: "getServices" }))[0]!;
      const json = serviceJson(svc, svc.dests) as { dests: { addr: string; health?: unknown }[] };
      assert.deepEqual(json.dests.find((x) => x.addr === "198.19.0.1")?.health, {
        state: "failed",
        checkers: 1,
        failing: 1,
      });
      c.close();
    } finally {
      await d.stop("test");
    }
  });
});
