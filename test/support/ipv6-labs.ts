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

export interface Tun6Topology {
  client: string;
  /** The client's IPv6 and IPv4 addresses. */
  cip: string;
  cip4: string;
  router: string;
  director: string;
  /** The director's own addresses (the outer source toward the real servers). */
  dip: string;
  dip4: string;
  /** IPv6 VIP whose real servers are IPv6 (IPv6 in IPv6). */
  vip: string;
  /** IPv6 VIP whose real server is IPv4 (IPv6 in IPv4). */
  vip64: string;
  /** IPv4 VIP whose real server is IPv6 (IPv4 in IPv6). */
  vip46: string;
  directorIf: string;
  /** The router's interface on the real servers' segment, and the one toward the director. */
  rsLinkIf: string;
  directorLinkIf: string;
  /** The real servers' prefix, and the route MTU the director has toward it. */
  rsPrefix: string;
  rsRouteMtu: number;
  /** `rip` is each real server's IPv6 address, `rip4` its IPv4 one. */
  servers: (RealServerHost & { rip4: string })[];
}

/**
 * LVS-TUN over IPv6 across a router, dual stack: client -- router -- director, and the router's third
 * leg on a switch with RS2 and RS3 (another subnet: the tunnel crosses the router). The director holds
 * the VIPs as host addresses and reaches the real servers through the router, over a route whose MTU
 * is 1400 (so packets the client sized for 1500-byte links do not fit the tunnel); the real servers'
 * default routes go to the router, so their replies reach the client without the director.
 */
export function buildTun6Lab(lab: NetLab): Tun6Topology {
  const t: Tun6Topology = {
    client: "client",
    cip: "2001:2:0:10::100",
    cip4: "198.18.0.100",
    router: "router",
    director: "director",
    dip: "2001:2:0:11::10",
    dip4: "198.18.1.10",
    vip: "2001:2:0:15::10",
    vip64: "2001:2:0:15::11",
    vip46: "198.18.5.10",
    directorIf: "eth0",
    rsLinkIf: "eth2",
    directorLinkIf: "eth1",
    rsPrefix: "2001:2:0:20::/64",
    rsRouteMtu: 1400,
    servers: [],
  };
  for (const h of ["client", "router", "director"]) addIpv6Host(lab, h);
  addSwitch(lab);
  const ip6 = (host: string, ...args: string[]) => lab.exec(host, ["ip", "-6", ...args]);
  lab.link("client", "eth0", "router", "eth0");
  lab.addAddr("client", "eth0", `${t.cip}/64`);
  lab.addAddr("client", "eth0", `${t.cip4}/24`);
  lab.addAddr("router", "eth0", "2001:2:0:10::1/64");
  lab.addAddr("router", "eth0", "198.18.0.1/24");
  ip6("client", "route", "add", "default", "via", "2001:2:0:10::1");
  lab.addRoute("client", "default", "via", "198.18.0.1");
  lab.link("director", t.directorIf, "router", t.directorLinkIf);
  lab.addAddr("director", t.directorIf, `${t.dip}/64`);
  lab.addAddr("director", t.directorIf, `${t.dip4}/24`);
  for (const v of [t.vip, t.vip64]) lab.addAddr("director", t.directorIf, `${v}/128`);
  lab.addAddr("director", t.directorIf, `${t.vip46}/32`);
  lab.addAddr("router", t.directorLinkIf, "2001:2:0:11::1/64");
  lab.addAddr("router", t.directorLinkIf, "198.18.1.1/24");
  ip6("director", "route", "add", "default", "via", "2001:2:0:11::1");
  lab.addRoute("director", "default", "via", "198.18.1.1");
  ip6("director", "route", "add", t.rsPrefix, "via", "2001:2:0:11::1", "mtu", String(t.rsRouteMtu));
  ip6("router", "route", "add", "2001:2:0:15::/64", "via", t.dip);
  lab.addRoute("router", "198.18.5.0/24", "via", t.dip4);
  lab.plug("router", t.rsLinkIf, "switch", "br0");
  lab.addAddr("router", t.rsLinkIf, "2001:2:0:20::1/64");
  lab.addAddr("router", t.rsLinkIf, "198.19.20.1/24");
  lab.sysctl("router", "net.ipv6.conf.all.forwarding", 1);
  lab.sysctl("router", "net.ipv4.ip_forward", 1);
  // IPv4 replies come from the VIP on the real servers' side, where the router has no route to it.
  lab.sysctl("router", "net.ipv4.conf.all.rp_filter", 0);
  lab.sysctl("router", `net.ipv4.conf.${t.rsLinkIf}.rp_filter`, 0);
  for (const n of [2, 3]) {
    const rs = { host: `rs${n}`, name: `RS${n}`, rip: `2001:2:0:20::${n * 10}`, rip4: `198.19.20.${n * 10}` };
    addIpv6Host(lab, rs.host);
    lab.plug(rs.host, "eth0", "switch", "br0");
    lab.addAddr(rs.host, "eth0", `${rs.rip}/64`);
    lab.addAddr(rs.host, "eth0", `${rs.rip4}/24`);
    ip6(rs.host, "route", "add", "default", "via", "2001:2:0:20::1");
    lab.addRoute(rs.host, "default", "via", "198.19.20.1");
    t.servers.push(rs);
  }
  return t;
}
