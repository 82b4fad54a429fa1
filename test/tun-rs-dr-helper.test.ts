import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { startRsHelper } from "./support/lvs-lab.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

test("tslvs rs --mode dr puts the VIPs on lo with ARP suppressed, and undoes exactly that on stop", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("trd"));
  try {
    lab.addHost("rs");
    lab.addHost("peer");
    lab.link("rs", "eth0", "peer", "eth0");
    lab.addAddr("rs", "eth0", "198.18.7.2/24");
    // Already there before the helper: must survive its stop.
    lab.addAddr("rs", "lo", "198.18.7.11/32");
    lab.sysctl("rs", "net.ipv4.conf.lo.arp_announce", 2);
    const sysctl = (k: string) => lab.exec("rs", ["sysctl", "-n", k]).trim();
    const lo = () => lab.exec("rs", ["ip", "-4", "-o", "addr", "show", "dev", "lo"]);
    const helper = await startRsHelper(lab, "rs", [
      "--mode",
      "dr",
      "--vip",
      "198.18.7.10",
      "--vip",
      "198.18.7.11",
    ]);
    assert.match(lo(), /198\.18\.7\.10\/32/);
    assert.match(lo(), /198\.18\.7\.11\/32/);
    for (const dev of ["all", "lo"]) {
      assert.equal(sysctl(`net.ipv4.conf.${dev}.arp_ignore`), "1");
      assert.equal(sysctl(`net.ipv4.conf.${dev}.arp_announce`), "2");
    }
    // The peer gets no ARP answer for the VIP: only a director may answer for it.
    const arping = lab.exec("peer", [
      "sh",
      "-c",
      "ping -c1 -W1 198.18.7.10 >/dev/null 2>&1; ip neigh show 198.18.7.10",
    ]);
    assert.doesNotMatch(arping, /lladdr/);
    const out = await helper.stop("SIGINT");
    assert.match(out, /stopped on SIGINT, host restored/);
    assert.doesNotMatch(lo(), /198\.18\.7\.10/);
    assert.match(lo(), /198\.18\.7\.11\/32/, "an address that was there before stays");
    assert.equal(sysctl("net.ipv4.conf.all.arp_ignore"), "0");
    assert.equal(sysctl("net.ipv4.conf.lo.arp_ignore"), "0");
    assert.equal(sysctl("net.ipv4.conf.lo.arp_announce"), "2", "a value that was already set stays");
    assert.equal(sysctl("net.ipv4.conf.all.arp_announce"), "0");
  } finally {
    await lab.destroy();
  }
});

test("tslvs rs --mode dr with IPv6 VIPs: /128 on lo, no ARP sysctl touched, undone on stop", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("trd6"));
  try {
    lab.addHost("rs");
    // Already there before the helper (and named differently on the command line): kept on stop.
    lab.exec("rs", ["ip", "-6", "addr", "add", "2001:2:0:7::11/128", "dev", "lo"]);
    const lo = () => lab.exec("rs", ["ip", "-6", "-o", "addr", "show", "dev", "lo"]);
    const sysctl = (k: string) => lab.exec("rs", ["sysctl", "-n", k]).trim();
    const helper = await startRsHelper(lab, "rs", [
      "--mode",
      "dr",
      "--vip",
      "2001:2:0:7::10",
      "--vip",
      "2001:0002:0:7:0:0:0:11",
    ]);
    assert.match(helper.text, /ready, mode dr, VIP 2001:2:0:7::10, 2001:2:0:7::11/);
    assert.match(lo(), /2001:2:0:7::10\/128/);
    assert.equal(sysctl("net.ipv4.conf.all.arp_ignore"), "0", "no IPv4 VIP: ARP left alone");
    const out = await helper.stop("SIGINT");
    assert.match(out, /stopped on SIGINT, host restored/);
    assert.doesNotMatch(lo(), /2001:2:0:7::10\//);
    assert.match(lo(), /2001:2:0:7::11\/128/, "an address that was there before stays");
  } finally {
    await lab.destroy();
  }
});

test("tslvs rs refuses bad arguments with its usage", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("trb"));
  try {
    lab.addHost("rs");
    const run = (args: string[]) => {
      try {
        lab.exec("rs", ["node", `${process.cwd()}/bin/tslvs`, "rs", ...args]);
        return "";
      } catch (e) {
        return (e as Error).message;
      }
    };
    assert.match(run(["--mode", "nat", "--vip", "198.18.7.10"]), /--mode must be dr or tun/);
    assert.match(
      run(["--mode", "dr", "--vip", "not-an-ip"]),
      /--vip not-an-ip is not an IPv4 or IPv6 address/,
    );
    assert.match(
      run(["--mode", "tun", "--vip", "198.18.7.10", "--tun-name", "way-too-long-a-name"]),
      /bad TUN device name/,
    );
    assert.match(
      run(["--mode", "tun", "--vip", "198.18.7.10", "--tun-type", "gue"]),
      /--tun-type gue needs --tun-port/,
    );
    assert.match(
      run(["--mode", "tun", "--vip", "198.18.7.10", "--tun-type", "gue", "--tun-port", "70000"]),
      /--tun-port 70000 is not a port/,
    );
    assert.match(
      run(["--mode", "tun", "--vip", "198.18.7.10", "--tun-type", "vxlan"]),
      /--tun-type must be ipip\|gue\|gre/,
    );
    assert.match(
      run(["--mode", "dr", "--vip", "198.18.7.10", "--tun-type", "gre"]),
      /--tun-type needs --mode tun/,
    );
    assert.match(
      run(["--mode", "tun", "--vip", "198.18.7.10", "--tun-port", "6080"]),
      /--tun-port is only for --tun-type gue/,
    );
    // A failed start leaves nothing behind.
    assert.doesNotMatch(lab.exec("rs", ["ip", "-4", "-o", "addr", "show", "dev", "lo"]), /198\.18\.7\.10/);
    assert.equal(lab.exec("rs", ["sysctl", "-n", "net.ipv4.conf.all.arp_ignore"]).trim(), "0");
  } finally {
    await lab.destroy();
  }
});
