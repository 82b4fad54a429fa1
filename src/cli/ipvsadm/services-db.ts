import { readFileSync } from "node:fs";

/**
 * The services database (/etc/services) for one protocol at a time, as getservbyname and
 * getservbyport read it: names and aliases to ports, and a port to its first listed name.
 * Parsed here rather than asked of the C library because getnameinfo cannot select SCTP.
 */
export class ServicesDb {
  private readonly byName = new Map<string, number>();
  private readonly byPort = new Map<string, string>();

  constructor(text: string) {
    for (const raw of text.split("\n")) {
      const hash = raw.indexOf("#");
      const line = hash >= 0 ? raw.slice(0, hash) : raw;
      const fields = line.split(/[ \t]+/).filter((f) => f !== "");
      if (fields.length < 2) continue;
      const m = /^(\d+)\/(\w+)$/.exec(fields[1]!);
      if (!m) continue;
      const port = Number(m[1]);
      const proto = m[2]!.toLowerCase();
      if (port > 65535) continue;
      const portKey = `${port}/${proto}`;
      if (!this.byPort.has(portKey)) this.byPort.set(portKey, fields[0]!);
      for (const name of [fields[0]!, ...fields.slice(2)]) {
        const nameKey = `${name}/${proto}`;
        if (!this.byName.has(nameKey)) this.byName.set(nameKey, port);
      }
    }
  }

  /** Port of a service name for "tcp" | "udp" | "sctp", or null. */
  port(name: string, proto: string): number | null {
    return this.byName.get(`${name}/${proto}`) ?? null;
  }

  /** First name listed for a port and protocol, or null. */
  name(port: number, proto: string): string | null {
    return this.byPort.get(`${port}/${proto}`) ?? null;
  }

  static fromFile(path = "/etc/services"): ServicesDb {
    try {
      return new ServicesDb(readFileSync(path, "utf8"));
    } catch {
      return new ServicesDb("");
    }
  }
}
