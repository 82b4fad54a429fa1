/**
 * ipvsadm 1.31's verified transcripts (CLI spec section 9), replayed through tslvsadm against the
 * daemon's real request handler and IPVS core (in process): every byte of stdout and stderr, and
 * the exit status, must match.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GOLDENS } from "./fixtures/ipvsadm-spec-goldens.js";
import { Ipvsadm } from "./helpers/ipvsadm-run.js";
import { parseTranscript } from "./helpers/transcript.js";

async function replay(ipvsadm: Ipvsadm, transcript: string): Promise<void> {
  const steps = parseTranscript(transcript);
  assert.ok(steps.length > 0, "transcript has commands");
  for (const step of steps) {
    const r = await ipvsadm.run(step.args, step.stdin === undefined ? {} : { stdin: step.stdin });
    assert.equal(r.stdout, step.stdout, `stdout of: ${step.command}`);
    assert.equal(r.stderr, step.stderr, `stderr of: ${step.command}`);
    assert.equal(r.code, step.exit ?? 0, `exit of: ${step.command}`);
  }
}

async function table92(): Promise<Ipvsadm> {
  const ipvsadm = new Ipvsadm();
  await replay(ipvsadm, GOLDENS["9.2"]![0]!);
  return ipvsadm;
}

test("9.1 classic NAT example: -ln, -L -n -t, -S -n, -L, -S", async () => {
  const ipvsadm = new Ipvsadm();
  await replay(ipvsadm, GOLDENS["9.1"]![0]!);
  await replay(ipvsadm, GOLDENS["9.1"]![2]!);
});

test("9.1 real-server lines end with the blanks of the padded InActConn column", async () => {
  const ipvsadm = new Ipvsadm();
  await replay(ipvsadm, GOLDENS["9.1"]![0]!);
  const r = await ipvsadm.run("-ln");
  const marked = r.stdout
    .split("\n")
    .slice(0, -1)
    .map((l) => `${l}$`)
    .join("\n");
  assert.equal(`${marked}\n`, GOLDENS["9.1"]![1]);
});

test("9.2 persistence, masks, PE, fwmark v4/v6, UDP+OPS, IPv6, SCTP, sched flags, tunnels", async () => {
  const ipvsadm = await table92();
  await replay(ipvsadm, GOLDENS["9.2"]![1]!);
});

test("9.3 --tun-info, --thresholds, --persistent-conn", async () => {
  await replay(await table92(), GOLDENS["9.3"]![0]!);
});

test("9.4 -S -n and -S", async () => {
  await replay(await table92(), GOLDENS["9.4"]![0]!);
});

test("9.8 timeouts and sync daemons", async () => {
  await replay(new Ipvsadm(), GOLDENS["9.8"]![0]!);
});

test("9.10 sort wrap-around (int32 comparator, glibc merge sort)", async () => {
  const ipvsadm = new Ipvsadm();
  await ipvsadm.setup(`
    -A -t 10.0.0.1:80
    -A -t 200.0.0.1:80
    -A -t 100.0.0.1:80
    -A -t 150.0.0.1:80
    -A -t 9.0.0.1:80
    -a -t 10.0.0.1:80 -r 10.1.1.1:80 -g
    -a -t 10.0.0.1:80 -r 130.1.1.1:80 -g
    -a -t 10.0.0.1:80 -r 10.1.1.1:81 -m
    -a -t 10.0.0.1:80 -r 10.1.1.1:8 -m`);
  await replay(ipvsadm, GOLDENS["9.10"]![0]!);
});

test("9.11 every error path: message and exit status", async () => {
  await replay(await table92(), GOLDENS["9.11"]![0]!);
});

test("9.12 restore: refusals go on, validation errors stop, status of the last line", async () => {
  await replay(new Ipvsadm(), GOLDENS["9.12"]![0]!);
});

test("9.13 help text, with the program name as invoked", async () => {
  const ipvsadm = new Ipvsadm();
  const r = await ipvsadm.run("-h");
  assert.equal(r.stdout, GOLDENS["9.13"]![0]);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, "");
  const t = await ipvsadm.run("-h extra words", { argv0: "tslvsadm" });
  assert.equal(t.stdout, GOLDENS["9.13"]![0]!.replaceAll("\n  ipvsadm ", "\n  tslvsadm "));
  assert.equal((await ipvsadm.run("--version")).stdout, `${GOLDENS["9.13"]![0]!.split("\n")[0]}\n`);
});
