/**
 * IPv6 versions of the classic NAT and DR labs for the network tests: every address the lab assigns is
 * in the IPv6 benchmarking prefix 2001:2::/48 (RFC 5180), usable at once (no duplicate-address
 * detection delay). The kernel's own link-local addresses (fe80::/64) stay: the kernel sends the
 * neighbour solicitations that tslvs asks for (`ip neigh replace ... use`, no packet to take a source
 * from) only from a link-local address, as it would on any real IPv6 link.
 */
import type { NetLab } from "../../src/cli/lab/netns.js";
import type { RealServerHost } from "../../src/cli/lab/topologies.js";

/** A host that speaks IPv6 with only the addresses the lab gives it. */
function addIpv6Host(lab: NetLab, host: string): void {
  lab.addHost(host);
  for (const scope of ["all", "default"]) {
    lab.sysctl(host, `net.ipv6.conf.${scope}.accept_dad`, 0);
    lab.sysctl(host, `net.ipv6.conf.${scope}.accept_ra`, 0);
  }
}

/** A switch namespace with bridge br0 that takes no part in IPv6 and floods multicast (ND). */
function addSwitch(lab: NetLab): void {
  lab.addHost("switch");
  lab.sysctl("switch", "net.ipv6.conf.all.disable_ipv6", 1);
  lab.sysctl("switch", "net.ipv6.conf.default.disable_ipv6", 1);
  lab.addBridge("switch", "br0");
  lab.exec("switch", ["ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"]);
}

export interface Nat6Topology {
  client: string;
  cip: string;
  director: string;
  vip: string;
  dip: string;
  outsideIf: string;
  insideIf: string;
  servers: RealServerHost[];
}

/**
 * LVS-NAT over IPv6: client -- (eth0, VIP) director (eth1, DIP) -- switch -- RS2, RS3, whose default
 * route is the DIP. With `rsGateway` false the real servers have no route to the client at all (the
 * FULLNAT lab: their replies go to the director's local address on their own segment).
 */
export function buildNat6Lab(lab: NetLab, rsGateway = true): Nat6Topology {
  const t: Nat6Topology = {
    client: "client",
    cip: "2001:2:0:1::100",
    director: "director",
    vip: "2001:2:0:1::10",
    dip: "2001:2:0:2::1",
    outsideIf: "eth0",
    insideIf: "eth1",
    servers: [],
  };
  addIpv6Host(lab, "client");
  addIpv6Host(lab, "director");
  addSwitch(lab);
  lab.link("client", "eth0", "director", t.outsideIf);
  lab.addAddr("client", "eth0", `${t.cip}/64`);
  lab.addAddr("director", t.outsideIf, `${t.vip}/64`);
  lab.plug("director", t.insideIf, "switch", "br0");
  lab.addAddr("director", t.insideIf, `${t.dip}/64`);
  for (const n of [2, 3]) {
    const rs: RealServerHost = { host: `rs${n}`, name: `RS${n}`, rip: `2001:2:0:2::${n * 10}` };
    addIpv6Host(lab, rs.host);
    lab.plug(rs.host, "eth0", "switch", "br0");
    lab.addAddr(rs.host, "eth0", `${rs.rip}/64`);
    if (rsGateway) lab.exec(rs.host, ["ip", "-6", "route", "add", "default", "via", t.dip]);
    t.servers.push(rs);
  }
  return t;
}

export interface Dr6Topology {
  client: string;
  cip: string;
  director: string;
  dip: string;
  vip: string;
  lanIf: string;
  servers: RealServerHost[];
}

/**
 * LVS-DR over IPv6 on one segment: client, director and RS2, RS3 on one switch. Each RS holds the VIP
 * as a /128 on lo. IPv6 has no arp_ignore to set: Linux answers a neighbour solicitation only for an
 * address of the interface it arrived on (ndisc_recv_ns looks the target up strictly on that
 * device), so the VIP on lo is never announced on eth0 and only the director answers for it.
 */
export function buildDr6Lab(lab: NetLab): Dr6Topology {
  const t: Dr6Topology = {
    client: "client",
    cip: "2001:2:0:3::100",
    director: "director",
    dip: "2001:2:0:3::1",
    vip: "2001:2:0:3::10",
    lanIf: "eth0",
    servers: [],
  };
  addIpv6Host(lab, "client");
  addIpv6Host(lab, "director");
  addSwitch(lab);
  lab.plug("client", "eth0", "switch", "br0");
  lab.addAddr("client", "eth0", `${t.cip}/64`);
  lab.plug("director", t.lanIf, "switch", "br0");
  lab.addAddr("director", t.lanIf, `${t.dip}/64`);
  lab.addAddr("director", t.lanIf, `${t.vip}/64`);
  for (const n of [2, 3]) {
    const rs: RealServerHost = { host: `rs${n}`, name: `RS${n}`, rip: `2001:2:0:3::${n * 10}` };
    addIpv6Host(lab, rs.host);
    lab.plug(rs.host, "eth0", "switch", "br0");
    lab.addAddr(rs.host, "eth0", `${rs.rip}/64`);
    lab.addAddr(rs.host, "lo", `${t.vip}/128`);
    t.servers.push(rs);
  }
  return t;
}

/** The link-layer address `host` has for `addr` in its neighbour table, "" when none. */
export function neighbourMac(lab: NetLab, host: string, addr: string): string {
  const rows = JSON.parse(lab.exec(host, ["ip", "-j", "-6", "neigh", "show", addr])) as { lladdr?: string }[];
  return rows.find((r) => r.lladdr)?.lladdr ?? "";
}
