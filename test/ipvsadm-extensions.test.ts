/** Beyond ipvsadm 1.31: FULLNAT (-b after -a/-e, --fullnat), local addresses (-P/-Q/-G) and --json. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Ipvsadm } from "./helpers/ipvsadm-run.js";

test("-b is --fullnat after -a/-e (no value) and --sched-flags after -A/-E", async () => {
  const ipvsadm = new Ipvsadm();
  await ipvsadm.setup(`-A -t 10.0.0.1:80 -s sh -b sh-port
    -a -t 10.0.0.1:80 -r 192.168.0.1:8080 -b -w 2
    -a -t 10.0.0.1:80 -r 192.168.0.2:8080 --fullnat
    -e -t 10.0.0.1:80 -r 192.168.0.2:8080 -b -w 3`);
  const list = await ipvsadm.run("-Ln");
  assert.equal(
    list.stdout,
    "IP Virtual Server version 1.2.1 (size=4096)\n" +
      "Prot LocalAddress:Port Scheduler Flags\n" +
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
      "TCP  10.0.0.1:80 sh (sh-port)\n" +
      "  -> 192.168.0.1:8080             FullNat 2      0          0         \n" +
      "  -> 192.168.0.2:8080             FullNat 3      0          0         \n",
  );
  const save = await ipvsadm.run("-Sn");
  assert.equal(
    save.stdout,
    "-A -t 10.0.0.1:80 -s sh -b sh-port\n" +
      "-a -t 10.0.0.1:80 -r 192.168.0.1:8080 -b -w 2\n" +
      "-a -t 10.0.0.1:80 -r 192.168.0.2:8080 -b -w 3\n",
  );
  // The saved rules restore to the same table.
  const copy = new Ipvsadm();
  assert.equal((await copy.run("-R", { stdin: save.stdout })).code, 0);
  assert.equal((await copy.run("-Sn")).stdout, save.stdout);
  assert.deepEqual(
    [(await ipvsadm.run("-a -t 10.0.0.1:80 -r 192.168.0.3 -b -m")).stderr],
    ["multiple 'forwarding-method' options specified\n"],
  );
  assert.deepEqual(
    [(await ipvsadm.run("-a -t 10.0.0.1:80 -r [2001:db8::1]:80 -b")).stderr],
    ["Different address family is allowed only for tunneling servers\n"],
  );
  assert.deepEqual(
    [(await ipvsadm.run("-L -b flag-1")).stderr],
    ["Illegal 'sched-flags' option with the 'list' command\n"],
  );
});

test("local addresses: -P/-Q with -z and -F, -G lists them in DPVS's layout", async () => {
  const ipvsadm = new Ipvsadm();
  await ipvsadm.setup(`-A -t 10.0.0.1:80 -s rr
    -A -u 10.0.0.2:53 -s rr
    -P -t 10.0.0.1:80 -z 198.18.0.10 -F eth1
    --add-laddr -t 10.0.0.1:80 --laddr 198.18.0.11 --ifname eth1`);
  assert.deepEqual(ipvsadm.daemon.requests.at(-1), {
    op: "addLaddr",
    service: { protocol: "tcp", addr: "10.0.0.1", port: 80 },
    addr: "198.18.0.11",
    ifname: "eth1",
  });
  const one = await ipvsadm.run("-G -t 10.0.0.1:80");
  assert.equal(
    one.stdout,
    "VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS     \n" +
      "10.0.0.1:80          2        \n" +
      "                              198.18.0.10          0          0         \n" +
      "                              198.18.0.11          0          0         \n",
  );
  const all = await ipvsadm.run("-G");
  assert.equal(all.stdout, `${one.stdout}10.0.0.2:53          0        \n`);
  const dup = await ipvsadm.run("-P -t 10.0.0.1:80 -z 198.18.0.10 -F eth1");
  assert.deepEqual([dup.stderr, dup.code], ["Local address already exists\n", 255]);
  assert.equal((await ipvsadm.run("-Q -t 10.0.0.1:80 -z 198.18.0.10 -F eth1")).code, 0);
  const gone = await ipvsadm.run("-Q -t 10.0.0.1:80 -z 198.18.0.10 -F eth1");
  assert.deepEqual([gone.stderr, gone.code], ["No such Local address\n", 255]);
  const noSvc = await ipvsadm.run("-P -t 10.0.0.9:80 -z 198.18.0.10 -F eth1");
  assert.deepEqual([noSvc.stderr, noSvc.code], ["Service not defined\n", 255]);
  const noIf = await ipvsadm.run("-P -t 10.0.0.1:80 -z 198.18.0.12");
  assert.deepEqual(
    [noIf.stderr, noIf.code],
    ["You need to supply the 'ifname' option for the 'add-laddr' command\n", 2],
  );
  const badAddr = await ipvsadm.run("-P -t 10.0.0.1:80 -z 12345 -F eth1");
  assert.deepEqual([badAddr.stderr, badAddr.code], ["illegal local address\n", 2]);
  const json = JSON.parse((await ipvsadm.run("-G -t 10.0.0.1:80 --json")).stdout);
  assert.deepEqual(json.services[0].laddrs, [
    { addr: "198.18.0.11", ifname: "eth1", portConflicts: 0, conns: 0 },
  ]);
});

test("--json listings: full table, one service, timeouts, daemons, connections", async () => {
  const ipvsadm = new Ipvsadm();
  await ipvsadm.setup(`-A -t 10.0.0.2:80 -s sh -b sh-port -p 60
    -A -t 10.0.0.1:80 -s rr
    -a -t 10.0.0.1:80 -r 192.168.0.2:80 -m -x 10 -y 5
    -a -t 10.0.0.1:80 -r 192.168.0.1:80 -i --tun-type gue --tun-port 6080 --tun-csum
    --start-daemon master --syncid 3`);
  const all = JSON.parse((await ipvsadm.run("-L --json")).stdout);
  assert.equal(all.version, "1.2.1");
  assert.equal(all.connTabSize, 4096);
  assert.deepEqual(
    all.services.map((s: { addr: string }) => s.addr),
    ["10.0.0.1", "10.0.0.2"],
  );
  const s1 = all.services[0];
  assert.equal(s1.protocol, "tcp");
  assert.equal(s1.fwmark, null);
  assert.deepEqual(
    s1.dests.map((d: { addr: string; method: string }) => [d.addr, d.method]),
    [
      ["192.168.0.1", "tunnel"],
      ["192.168.0.2", "masq"],
    ],
  );
  assert.equal(s1.dests[0].tunType, "gue");
  assert.equal(s1.dests[1].uThreshold, 10);
  assert.deepEqual(all.services[1].schedFlags, ["sh-port"]);
  assert.equal(all.services[1].persistent, true);
  assert.equal(all.services[1].timeout, 60);
  const one = JSON.parse((await ipvsadm.run("-L -t 10.0.0.2:80 --json")).stdout);
  assert.equal(one.services.length, 1);
  assert.equal(one.version, undefined);
  assert.deepEqual(JSON.parse((await ipvsadm.run("-L --timeout --json")).stdout), {
    timeout: { tcp: 900, tcpfin: 120, udp: 300 },
  });
  const d = JSON.parse((await ipvsadm.run("-L --daemon --json")).stdout);
  assert.equal(d.daemons[0].syncId, 3);
  assert.deepEqual(JSON.parse((await ipvsadm.run("-Lc --json")).stdout), { connections: [] });
  assert.deepEqual(
    [(await ipvsadm.run("-A -t 10.0.0.3:80 --json")).stderr],
    ["Illegal 'json' option with the 'add-service' command\n"],
  );
});

test("-S --json / -R --json keep what -S drops (thresholds) and restore the same table", async () => {
  const ipvsadm = new Ipvsadm();
  await ipvsadm.setup(`-A -f 7 -6 -s lc -p 30 -M 64 --pe sip
    -a -f 7 -6 -r [2001:db8::7]:0 -m -x 100 -y 50 -w 4
    -A -u 10.0.0.53:53 -s rr -o
    -a -u 10.0.0.53:53 -r 192.168.1.53 -g -w 0`);
  const rules = (await ipvsadm.run("-S --json")).stdout;
  assert.equal((await ipvsadm.run("-Sn")).stdout.includes("-x"), false);
  const copy = new Ipvsadm();
  const r = await copy.run("-R --json", { stdin: rules });
  assert.deepEqual([r.stderr, r.code], ["", 0]);
  assert.equal((await copy.run("-S --json")).stdout, rules);
  assert.equal((await copy.run("-Ln --thresholds")).stdout, (await ipvsadm.run("-Ln --thresholds")).stdout);
  // Refusals print and the restore goes on; the status is the last operation's.
  const again = await copy.run("-R --json", { stdin: rules });
  assert.deepEqual(
    [again.stderr, again.code],
    [
      "Service already exists\nDestination already exists\nService already exists\nDestination already exists\n",
      255,
    ],
  );
  const bad = await copy.run("-R --json", { stdin: '{"format":"other"}' });
  assert.deepEqual(
    [bad.stderr, bad.code],
    ['invalid JSON rules: not a tslvs rules document (format "tslvs-rules")\n', 2],
  );
  const broken = await copy.run("-R --json", { stdin: "{" });
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /^invalid JSON rules: /);
});
