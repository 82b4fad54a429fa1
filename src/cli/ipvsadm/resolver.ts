/**
 * Host name lookups, used only without -n (and for host names typed in addresses). Injectable so
 * listings can be tested with fixed name tables; the system one is bounded and cached.
 */
export interface NameResolver {
  /** First IPv4 address of a host name (dotted quad), or null. */
  forward4(host: string): Promise<string | null>;
  /** Name of an address (dotted quad or IPv6 text), or null when it has none. */
  reverse(addr: string): Promise<string | null>;
}

/** A resolver over a fixed table: address -> name (reverse) and name -> IPv4 (forward). */
export class TableResolver implements NameResolver {
  constructor(
    private readonly names: ReadonlyMap<string, string>,
    private readonly hosts: ReadonlyMap<string, string> = new Map(),
  ) {}
  async forward4(host: string): Promise<string | null> {
    return this.hosts.get(host) ?? null;
  }
  async reverse(addr: string): Promise<string | null> {
    return this.names.get(addr) ?? null;
  }
}

/**
 * The system resolver (getaddrinfo / getnameinfo through Node's dns.lookup and dns.lookupService,
 * which honour /etc/hosts and nsswitch as ipvsadm's gethostbyname/getnameinfo do). Each lookup is
 * cut off after `timeoutMs` and answered numerically; answers are cached for the invocation.
 */
export class SystemResolver implements NameResolver {
  private readonly cacheRev = new Map<string, Promise<string | null>>();
  private readonly cacheFwd = new Map<string, Promise<string | null>>();
  /** True once a lookup was abandoned: the caller should exit without waiting for it. */
  timedOut = false;

  constructor(private readonly timeoutMs = 1000) {}

  private bounded<T>(p: Promise<T>, fallback: T): Promise<T> {
    return new Promise<T>((resolve) => {
      const timer = setTimeout(() => {
        this.timedOut = true;
        resolve(fallback);
      }, this.timeoutMs);
      timer.unref();
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        () => {
          clearTimeout(timer);
          resolve(fallback);
        },
      );
    });
  }

  forward4(host: string): Promise<string | null> {
    let p = this.cacheFwd.get(host);
    if (!p) {
      p = this.bounded(
        import("node:dns").then((dns) => dns.promises.lookup(host, { family: 4 }).then((r) => r.address)),
        null,
      );
      this.cacheFwd.set(host, p);
    }
    return p;
  }

  reverse(addr: string): Promise<string | null> {
    let p = this.cacheRev.get(addr);
    if (!p) {
      p = this.bounded(
        import("node:dns").then((dns) =>
          dns.promises.lookupService(addr, 0).then((r) => (r.hostname === addr ? null : r.hostname)),
        ),
        null,
      );
      this.cacheRev.set(addr, p);
    }
    return p;
  }
}
