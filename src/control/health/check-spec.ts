/**
 * The health-checking model shared by keepalived.conf and the YAML config: what a checker probes,
 * how often, and what a real server and a service do when checks fail. Both readers produce these
 * values fully resolved (every default of spec A.5-A.7 applied, checker > real server > virtual
 * server > checker type), so the state machine and the probes never look a default up.
 * Times are seconds (keepalived allows 6 decimals).
 */

export type CheckerKind =
  | "TCP_CHECK"
  | "HTTP_GET"
  | "SSL_GET"
  | "UDP_CHECK"
  | "DNS_CHECK"
  | "SMTP_CHECK"
  | "PING_CHECK"
  | "MISC_CHECK"
  | "FILE_CHECK";

/** When a checker runs and how failures are counted (spec A.7, A.9). */
export interface CheckTiming {
  delayLoop: number;
  connectTimeout: number;
  /** Extra attempts after a failure before the checker is marked down (keepalived's `retry`). */
  retry: number;
  delayBeforeRetry: number;
  /** First run 1 s + uniform(0, warmup) after start; 0 disables the random part. */
  warmup: number;
  /** Starts failed: the real server is out until this checker has passed once. */
  alpha: boolean;
  /** Log every failed attempt, not only state changes. */
  logAllFailures: boolean;
}

/** Where a network checker connects, and from where (spec A.7 common keywords). */
export interface ProbeTarget {
  /** Address text, IPv4 or IPv6 (default: the real server's). */
  connectIp: string;
  /** Port (default: the real server's; 0 for PING_CHECK). */
  connectPort: number;
  bindto?: string;
  bindPort?: number;
  bindIf?: string;
  /** SO_MARK on the probe socket. */
  fwmark?: number;
}

/** One `url { }` of HTTP_GET / SSL_GET. */
export interface UrlCheck {
  path: string;
  /** Lower-case hex MD5 of the body, when given. */
  digest?: string;
  /** Inclusive ranges of accepted status codes; default [[200, 299]]. */
  statusCodes: [number, number][];
  /** The Host header: url, else checker, else RS, else VS virtualhost; absent: "IP:port". */
  virtualhost?: string;
}

/** A script and whom it runs as (`script_user`, or the per-script user). */
export interface ScriptSpec {
  /** argv, split as keepalived splits `misc_path` (shell-like quoting, no shell). */
  argv: string[];
  user?: string;
  group?: string;
}

export type ProbeSpec =
  | { kind: "TCP_CHECK"; target: ProbeTarget }
  | {
      kind: "HTTP_GET" | "SSL_GET";
      target: ProbeTarget;
      urls: UrlCheck[];
      httpProtocol: "1.0" | "1.0C" | "1.1";
      fastRecovery: boolean;
      /** SSL_GET: send SNI (sniName, else the Host's name). */
      enableSni: boolean;
      sniName?: string;
    }
  | {
      kind: "UDP_CHECK";
      target: ProbeTarget;
      /** Hex bytes to send; absent: random bytes. */
      payload?: string;
      /** Absent: no reply needed (only an ICMP error fails). Present: hex pattern, `x` a wildcard nibble ("" = any reply). */
      requireReply?: string;
      minReplyLength: number;
      maxReplyLength: number;
    }
  | {
      kind: "DNS_CHECK";
      target: ProbeTarget;
      type: "A" | "NS" | "CNAME" | "SOA" | "MX" | "TXT" | "AAAA";
      /** Query name; "" (the default) is the root. */
      name: string;
    }
  | { kind: "SMTP_CHECK"; target: ProbeTarget; heloName: string }
  | { kind: "PING_CHECK"; target: ProbeTarget }
  | {
      kind: "MISC_CHECK";
      script: ScriptSpec;
      /** Seconds before SIGTERM to the process group (SIGKILL 2 s later); counts as a failure. */
      timeout: number;
      /** Exit 2..255 = up with weight (status - 2). */
      dynamic: boolean;
    }
  | {
      kind: "FILE_CHECK";
      /** The track_file's name (for listings) and the file it reads. */
      trackName: string;
      file: string;
      /** 0: a non-zero value fails. Otherwise value x weight (negated with reverse) adds to the RS weight. */
      weight: number;
      reverse: boolean;
    };

export interface CheckerSpec {
  probe: ProbeSpec;
  timing: CheckTiming;
}

/** The health settings of one real server (keepalived's real_server block). */
export interface DestHealth {
  checkers: CheckerSpec[];
  /** Weight 0 instead of removal while failed. */
  inhibitOnFailure: boolean;
  notifyUp?: ScriptSpec;
  notifyDown?: ScriptSpec;
}

/** The health settings of one service (keepalived's virtual_server block). */
export interface ServiceHealth {
  /**
   * Services that share one set of checkers (a virtual_server group) carry the same `group`:
   * the group's name. Absent: the service's own identity.
   */
  group?: string;
  quorum: number;
  hysteresis: number;
  quorumUp?: ScriptSpec;
  quorumDown?: ScriptSpec;
  /** The sorry server, added (weight 1) while the quorum is lost. */
  sorryServer?: {
    addr: string;
    port: number;
    method: "masq" | "route" | "tunnel" | "fullnat";
    inhibit: boolean;
  };
  /** Run the down scripts at shutdown. */
  omega: boolean;
  /** Checks paused while no address of the service is on the host (accepted; needs HA). */
  haSuspend: boolean;
  /**
   * The data-path sensor (health-sensor.ts): a real server whose clients retransmit SYNs or whose
   * SYNs are answered with RST has its checks run at once. Absent: on.
   */
  sensor?: boolean;
}

/** What one attempt of a checker found. */
export interface ProbeResult {
  ok: boolean;
  /** "ok", "refused", "timeout", "status 500", "digest mismatch", "exit 3", "no reply"... */
  reason: string;
  /** Milliseconds the attempt took. */
  latencyMs: number;
  /** MISC_CHECK with misc_dynamic and exit 2..255: the weight this checker asks for (status - 2). */
  dynamicWeight?: number;
  /** FILE_CHECK: what the tracked value adds to the real server's weight (value x weight, or its negation). */
  weightDelta?: number;
}

/** A probe: one attempt, bounded by `timeoutMs`, abandoned (resources freed) when `signal` fires. */
export type Probe = (spec: ProbeSpec, timeoutMs: number, signal: AbortSignal) => Promise<ProbeResult>;
