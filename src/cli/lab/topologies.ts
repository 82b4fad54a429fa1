import type { NetLab } from "./netns.js";

/**
 * The classic LVS labs (shared/spec/labs.md) as namespaces. Addresses stand one-for-one for the
 * guide's: its client-side network becomes 198.18.0.0/16, its real servers' private network 198.19.0.0/16,
 * so every address put on an interface is in the benchmarking range 198.18.0.0/15.
 */

export interface RealServerHost {
  host: string;
  /** The page the RS serves, as in the guide (RS2, RS3). */
  name: string;
  rip: string;
}

export interface NatTopology {
  client: string;
  cip: string;
  director: string;
  vip: string;
  dip: string;
  /** Director interfaces: toward the clients, toward the real servers. */
  outsideIf: string;
  insideIf: string;
  servers: RealServerHost[];
}

/**
 * Lab 1, LVS-NAT: client -- (outside) director (inside) -- switch -- RS2, RS3. The real servers' gateway
 * is the DIP, so their replies come back through the director.
 */
export function buildNatLab(lab: NetLab, rsCount = 2): NatTopology {
  const t: NatTopology = {
    client: "client",
    cip: "198.18.0.100",
    director: "director",
    vip: "198.18.0.10",
    dip: "198.19.10.1",
    outsideIf: "eth0",
    insideIf: "eth1",
    servers: [],
  };
  for (const h of ["client", "director", "switch"]) lab.addHost(h);
  lab.link("client", "eth0", "director", t.outsideIf);
  lab.addAddr("client", "eth0", `${t.cip}/24`);
  lab.addAddr("director", t.outsideIf, `${t.vip}/24`);
  lab.addBridge("switch", "br0");
  lab.plug("director", t.insideIf, "switch", "br0");
  lab.addAddr("director", t.insideIf, `${t.dip}/24`);
  lab.sysctl("director", "net.ipv4.ip_forward", 1);
  t.servers = addRealServers(lab, rsCount, 2, (n) => `198.19.10.${n * 10}`, t.dip);
  return t;
}

export interface DrTopology {
  client: string;
  cip: string;
  director: string;
  dip: string;
  vip: string;
  lanIf: string;
  servers: RealServerHost[];
}

/**
 * Lab 2, one segment, VIP on the real servers' loopback (LVS-DR): client, director and RS1, RS2 on one
 * switch. Every RS holds the VIP on lo and does not answer ARP for it (arp_ignore=1, arp_announce=2),
 * so only the director answers ARP for the VIP and the RS reply to the client directly.
 */
export function buildDrLab(lab: NetLab, rsCount = 2): DrTopology {
  const t: DrTopology = {
    client: "client",
    cip: "198.18.0.100",
    director: "director",
    dip: "198.18.0.2",
    vip: "198.18.0.10",
    lanIf: "eth0",
    servers: [],
  };
  for (const h of ["switch", "client", "director"]) lab.addHost(h);
  lab.addBridge("switch", "br0");
  lab.plug("client", "eth0", "switch", "br0");
  lab.addAddr("client", "eth0", `${t.cip}/24`);
  lab.plug("director", t.lanIf, "switch", "br0");
  lab.addAddr("director", t.lanIf, `${t.dip}/24`);
  lab.addAddr("director", t.lanIf, `${t.vip}/32`);
  t.servers = addRealServers(lab, rsCount, 1, (n) => `198.18.0.${20 + n}`);
  for (const rs of t.servers) applyDrRealServerScript(lab, rs.host, t.vip);
  return t;
}

/** The guide's real-server script for DR: VIP on lo, ARP for it suppressed. */
export function applyDrRealServerScript(lab: NetLab, host: string, vip: string): void {
  lab.addAddr(host, "lo", `${vip}/32`);
  lab.sysctl(host, "net.ipv4.conf.lo.arp_ignore", 1);
  lab.sysctl(host, "net.ipv4.conf.lo.arp_announce", 2);
  lab.sysctl(host, "net.ipv4.conf.all.arp_ignore", 1);
  lab.sysctl(host, "net.ipv4.conf.all.arp_announce", 2);
}

export interface TunTopology {
  client: string;
  cip: string;
  router: string;
  director: string;
  dip: string;
  vip: string;
  /** The director's one interface (toward the router). */
  directorIf: string;
  /** The router's interface on the real servers' network (where IPIP frames cross). */
  rsLinkIf: string;
  servers: RealServerHost[];
}

/**
 * LVS-TUN across networks: the client, the director and the real servers sit on three networks joined
 * by a router. The director reaches the real servers only through the router and sends them the
 * client's packets in IPIP; each RS holds the VIP (put there by `tslvs rs --mode tun`, which the
 * caller starts) and answers the client straight through the router, never through the director.
 *
 *   client 198.18.0.100 ── router ── director 198.18.1.10 (+ VIP 198.18.5.10)
 *                            └── switch ── RS2 198.19.20.20, RS3 198.19.20.30
 */
export function buildTunLab(lab: NetLab, rsCount = 2): TunTopology {
  const t: TunTopology = {
    client: "client",
    cip: "198.18.0.100",
    router: "router",
    director: "director",
    dip: "198.18.1.10",
    vip: "198.18.5.10",
    directorIf: "eth0",
    rsLinkIf: "eth2",
    servers: [],
  };
  for (const h of ["client", "router", "director", "switch"]) lab.addHost(h);
  lab.link("client", "eth0", "router", "eth0");
  lab.addAddr("client", "eth0", `${t.cip}/24`);
  lab.addAddr("router", "eth0", "198.18.0.1/24");
  lab.addRoute("client", "default", "via", "198.18.0.1");
  lab.link("director", t.directorIf, "router", "eth1");
  lab.addAddr("director", t.directorIf, `${t.dip}/24`);
  lab.addAddr("director", t.directorIf, `${t.vip}/32`);
  lab.addAddr("router", "eth1", "198.18.1.1/24");
  lab.addRoute("director", "default", "via", "198.18.1.1");
  lab.addRoute("router", "198.18.5.0/24", "via", t.dip);
  lab.addBridge("switch", "br0");
  lab.plug("router", t.rsLinkIf, "switch", "br0");
  lab.addAddr("router", t.rsLinkIf, "198.19.20.1/24");
  lab.sysctl("router", "net.ipv4.ip_forward", 1);
  // The replies come from the VIP on the real servers' side, where the router has no route to it.
  lab.sysctl("router", "net.ipv4.conf.all.rp_filter", 0);
  lab.sysctl("router", `net.ipv4.conf.${t.rsLinkIf}.rp_filter`, 0);
  t.servers = addRealServers(lab, rsCount, 2, (n) => `198.19.20.${n * 10}`, "198.19.20.1");
  return t;
}

export interface FullnatTopology {
  client: string;
  cip: string;
  director: string;
  vip: string;
  /** The director's address toward the real servers: the LIP when the service has no pool. */
  dip: string;
  /** Addresses on the director's inside interface for a local-address pool (-P). */
  poolLips: string[];
  outsideIf: string;
  insideIf: string;
  servers: RealServerHost[];
}

/**
 * FULLNAT: client -- (outside) director (inside) -- switch -- RS2, RS3, as the NAT lab, except that the
 * real servers have no route to the client at all (no default route): their replies can only go back
 * to the address the request came from, one of the director's local addresses.
 */
export function buildFullnatLab(lab: NetLab, rsCount = 2): FullnatTopology {
  const t: FullnatTopology = {
    client: "client",
    cip: "198.18.0.100",
    director: "director",
    vip: "198.18.0.10",
    dip: "198.19.30.1",
    poolLips: ["198.19.30.5", "198.19.30.6"],
    outsideIf: "eth0",
    insideIf: "eth1",
    servers: [],
  };
  for (const h of ["client", "director", "switch"]) lab.addHost(h);
  lab.link("client", "eth0", "director", t.outsideIf);
  lab.addAddr("client", "eth0", `${t.cip}/24`);
  lab.addAddr("director", t.outsideIf, `${t.vip}/24`);
  lab.addBridge("switch", "br0");
  lab.plug("director", t.insideIf, "switch", "br0");
  lab.addAddr("director", t.insideIf, `${t.dip}/24`);
  for (const lip of t.poolLips) lab.addAddr("director", t.insideIf, `${lip}/24`);
  t.servers = addRealServers(lab, rsCount, 2, (n) => `198.19.30.${n * 10}`);
  return t;
}

/**
 * `count` real servers rs<first>, rs<first+1>, ... plugged into switch br0, each with `rip(n)`/24 on
 * eth0 and, with `gateway`, a default route through it.
 */
function addRealServers(
  lab: NetLab,
  count: number,
  first: number,
  rip: (n: number) => string,
  gateway?: string,
): RealServerHost[] {
  const servers: RealServerHost[] = [];
  for (let n = first; n < first + count; n++) {
    const rs: RealServerHost = { host: `rs${n}`, name: `RS${n}`, rip: rip(n) };
    lab.addHost(rs.host);
    lab.plug(rs.host, "eth0", "switch", "br0");
    lab.addAddr(rs.host, "eth0", `${rs.rip}/24`);
    if (gateway) lab.addRoute(rs.host, "default", "via", gateway);
    servers.push(rs);
  }
  return servers;
}
