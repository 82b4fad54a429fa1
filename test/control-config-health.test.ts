import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, dumpConfig, parseConfig } from "../src/control/config.js";
import type { DesiredService } from "../src/control/desired-state.js";
import type { CheckerSpec, CheckTiming, ProbeTarget } from "../src/control/health/check-spec.js";
import { parseKeepalivedText } from "../src/control/keepalived/read-keepalived-conf.js";

/** A NAT service on 198.18.0.10:80 with one real server 198.19.0.1:8080; `extra` goes under it. */
function yaml(svcHealth: string, server: string, more = ""): string {
  return `services:
  - tcp: 198.18.0.10:80
    scheduler: wrr
${svcHealth}    servers:
      - address: 198.19.0.1:8080
        method: masq
        weight: 3
${server}${more}`;
}

function service(text: string): DesiredService {
  return parseConfig(text, "tslvs.yaml").services[0]!;
}

/** The checkers of the first real server, for one `checks:` list (indented under the server). */
function checks(list: string, svcHealth = ""): CheckerSpec[] {
  const s = service(yaml(svcHealth, `        checks:\n${list}`));
  return s.dests[0]!.health!.checkers;
}

function fails(text: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => parseConfig(text, "tslvs.yaml"),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
      assert.equal(e.line, line, `wrong line for: ${e.message}`);
      assert.match(e.reason, pattern);
      return true;
    },
  );
}

const TARGET: ProbeTarget = { connectIp: "198.19.0.1", connectPort: 8080 };
const timing = (over: Partial<CheckTiming> = {}): CheckTiming => ({
  delayLoop: 60,
  connectTimeout: 5,
  retry: 1,
  delayBeforeRetry: 1,
  warmup: 60,
  alpha: false,
  logAllFailures: false,
  ...over,
});

describe("YAML health checks: each kind", () => {
  it("tcp, with the real server's address and port as the target", () => {
    assert.deepEqual(checks("          - tcp: {}\n"), [
      { probe: { kind: "TCP_CHECK", target: TARGET }, timing: timing() },
    ]);
    // A bare kind name and an empty value mean the same.
    assert.deepEqual(checks("          - tcp\n"), checks("          - tcp:\n"));
  });

  it("tcp with every target and timing key", () => {
    const [c] = checks(`          - tcp:
              connect-ip: 198.19.0.9
              connect-port: 81
              bindto: 198.19.0.250
              bind-port: 4000
              bind-if: eth1
              fwmark: 7
              connect-timeout: 2.5
              retry: 0
              delay-before-retry: 0.25
              delay-loop: 10
              warmup: 0
              alpha: true
              log-all-failures: true
`);
    assert.deepEqual(c, {
      probe: {
        kind: "TCP_CHECK",
        target: {
          connectIp: "198.19.0.9",
          connectPort: 81,
          bindto: "198.19.0.250",
          bindPort: 4000,
          bindIf: "eth1",
          fwmark: 7,
        },
      },
      timing: {
        delayLoop: 10,
        connectTimeout: 2.5,
        retry: 0,
        delayBeforeRetry: 0.25,
        warmup: 0,
        alpha: true,
        logAllFailures: true,
      },
    });
  });

  it("http and https: urls, status codes, digest, host, protocol, sni", () => {
    const [h, s] = checks(`          - http:
              urls:
                - path: /healthz
                  status: "200-299 301"
                  digest: 9B3A0C85A887A256D6939DA88AABD8CD
                - path: /b
                  status: [204, "300-302"]
                  virtualhost: b.example.com
                - path: /c
              http-protocol: 1.1
              fast-recovery: true
          - https:
              urls: [{ path: / , status: 200 }]
              sni: true
              sni-name: tls.example.com
              http-protocol: "1.0c"
`);
    assert.deepEqual(h, {
      probe: {
        kind: "HTTP_GET",
        target: TARGET,
        urls: [
          {
            path: "/healthz",
            statusCodes: [
              [200, 299],
              [301, 301],
            ],
            digest: "9b3a0c85a887a256d6939da88aabd8cd",
          },
          {
            path: "/b",
            statusCodes: [
              [204, 204],
              [300, 302],
            ],
            virtualhost: "b.example.com",
          },
          { path: "/c", statusCodes: [[200, 299]] },
        ],
        httpProtocol: "1.1",
        fastRecovery: true,
        enableSni: false,
      },
      timing: timing({ delayBeforeRetry: 3 }),
    });
    assert.deepEqual(s, {
      probe: {
        kind: "SSL_GET",
        target: TARGET,
        urls: [{ path: "/", statusCodes: [[200, 200]] }],
        httpProtocol: "1.0C",
        fastRecovery: false,
        enableSni: true,
        sniName: "tls.example.com",
      },
      timing: timing({ delayBeforeRetry: 3 }),
    });
  });

  it("udp: loose hex payload, wildcard reply pattern, lengths", () => {
    const [a, b, c] =
      checks(`          - udp: { payload: "Ab12f 3 456", require-reply: "0x 1", min-reply-length: 2, max-reply-length: 512 }
          - udp: { require-reply: "" }
          - udp: {}
`);
    assert.deepEqual(a!.probe, {
      kind: "UDP_CHECK",
      target: TARGET,
      payload: "ab120f034506",
      requireReply: "0x01",
      minReplyLength: 2,
      maxReplyLength: 512,
    });
    assert.deepEqual(b!.probe, {
      kind: "UDP_CHECK",
      target: TARGET,
      requireReply: "",
      minReplyLength: 0,
      maxReplyLength: 255,
    });
    assert.deepEqual(c!.probe, { kind: "UDP_CHECK", target: TARGET, minReplyLength: 0, maxReplyLength: 255 });
    assert.deepEqual(c!.timing, timing());
  });

  it("dns: type and name, retry 3 and delay-before-retry = delay-loop", () => {
    const [a, b] = checks(`          - dns: { type: aaaa, name: www.example.com, delay-loop: 20 }
          - dns: {}
`);
    assert.deepEqual(a, {
      probe: { kind: "DNS_CHECK", target: TARGET, type: "AAAA", name: "www.example.com" },
      timing: timing({ delayLoop: 20, warmup: 20, retry: 3, delayBeforeRetry: 20 }),
    });
    assert.deepEqual(b!.probe, { kind: "DNS_CHECK", target: TARGET, type: "SOA", name: "" });
    assert.deepEqual(b!.timing, timing({ retry: 3, delayBeforeRetry: 60 }));
  });

  it("smtp and ping", () => {
    const [s, d, p] = checks(`          - smtp: { helo-name: mail.example.com }
          - smtp: {}
          - ping: { connect-ip: 198.19.0.2 }
`);
    assert.deepEqual(s!.probe, { kind: "SMTP_CHECK", target: TARGET, heloName: "mail.example.com" });
    assert.deepEqual(d!.probe, {
      kind: "SMTP_CHECK",
      target: TARGET,
      heloName: "smtpchecker.keepalived.org",
    });
    assert.deepEqual(p, {
      probe: { kind: "PING_CHECK", target: { connectIp: "198.19.0.2", connectPort: 0 } },
      timing: timing(),
    });
  });

  it("misc: argv split like a shell, user and group, timeout = the service's delay-loop", () => {
    const [a, b] = checks(
      `          - misc: { script: "/usr/local/bin/check '198.19.0.1 x' y", timeout: 5, dynamic: true, user: nobody, group: nogroup }
          - misc: { script: /bin/true, delay-loop: 7 }
`,
      "    health: { delay-loop: 30 }\n",
    );
    assert.deepEqual(a, {
      probe: {
        kind: "MISC_CHECK",
        script: { argv: ["/usr/local/bin/check", "198.19.0.1 x", "y"], user: "nobody", group: "nogroup" },
        timeout: 5,
        dynamic: true,
      },
      timing: timing({ delayLoop: 30, warmup: 30, retry: 0 }),
    });
    assert.deepEqual(b!.probe, {
      kind: "MISC_CHECK",
      script: { argv: ["/bin/true"] },
      timeout: 30,
      dynamic: false,
    });
    assert.deepEqual(b!.timing, timing({ delayLoop: 7, warmup: 7, retry: 0 }));
  });

  it("file: name defaults to the path, weight 1", () => {
    const [a, b] = checks(`          - file: { file: /run/flag, weight: 0, reverse: true, name: flag }
          - file: { file: /run/w }
`);
    assert.deepEqual(a, {
      probe: { kind: "FILE_CHECK", trackName: "flag", file: "/run/flag", weight: 0, reverse: true },
      timing: timing(),
    });
    assert.deepEqual(b!.probe, {
      kind: "FILE_CHECK",
      trackName: "/run/w",
      file: "/run/w",
      weight: 1,
      reverse: false,
    });
  });
});

describe("YAML health checks: inheritance and the service", () => {
  it("check > server > service > type default, for every timing value and the Host", () => {
    const s = service(
      yaml(
        `    health:
      delay-loop: 30
      connect-timeout: 3
      retry: 2
      delay-before-retry: 4
      warmup: 5
      alpha: true
      inhibit-on-failure: true
      virtualhost: svc.example.com
`,
        `        delay-loop: 20
        connect-timeout: 2
        virtualhost: rs.example.com
        inhibit-on-failure: false
        checks:
          - tcp: { delay-loop: 10 }
          - http: { urls: [{ path: / }, { path: /u, virtualhost: url.example.com }], virtualhost: chk.example.com }
          - http: { urls: [{ path: / }] }
      - address: 198.19.0.2:8080
        method: masq
        checks:
          - http: { urls: [{ path: / }], retry: 0 }
`,
      ),
    );
    const [a, b] = s.dests;
    assert.deepEqual(a!.health!.checkers[0]!.timing, {
      delayLoop: 10,
      connectTimeout: 2,
      retry: 2,
      delayBeforeRetry: 4,
      warmup: 5,
      alpha: true,
      logAllFailures: false,
    });
    const hosts = (c: CheckerSpec) =>
      c.probe.kind === "HTTP_GET" ? c.probe.urls.map((u) => u.virtualhost) : [];
    assert.deepEqual(hosts(a!.health!.checkers[1]!), ["chk.example.com", "url.example.com"]);
    assert.deepEqual(hosts(a!.health!.checkers[2]!), ["rs.example.com"]);
    assert.equal(a!.health!.checkers[2]!.timing.delayLoop, 20);
    assert.equal(a!.health!.inhibitOnFailure, false);
    const other = b!.health!.checkers[0]!;
    assert.deepEqual(hosts(other), ["svc.example.com"]);
    assert.deepEqual(other.timing, {
      delayLoop: 30,
      connectTimeout: 3,
      retry: 0,
      delayBeforeRetry: 4,
      warmup: 5,
      alpha: true,
      logAllFailures: false,
    });
    assert.equal(b!.health!.inhibitOnFailure, true);
  });

  it("quorum, scripts and the sorry server; a health block without checks", () => {
    const s = service(
      yaml(
        `    health:
      quorum: 2
      hysteresis: 1
      quorum-up: "/usr/local/bin/page up"
      quorum-down: { command: "/usr/local/bin/page 'down now'", user: pager, group: staff }
      sorry-server: 198.18.0.99
      omega: true
`,
        `        notify-up: /bin/up
        notify-down: { command: /bin/down, user: nobody }
      - address: 198.19.0.2:8080
        method: masq
`,
      ),
    );
    assert.deepEqual(s.health, {
      quorum: 2,
      hysteresis: 1,
      omega: true,
      haSuspend: false,
      quorumUp: { argv: ["/usr/local/bin/page", "up"] },
      quorumDown: { argv: ["/usr/local/bin/page", "down now"], user: "pager", group: "staff" },
      sorryServer: { addr: "198.18.0.99", port: 80, method: "masq", inhibit: false },
    });
    assert.deepEqual(s.dests[0]!.health, {
      checkers: [],
      inhibitOnFailure: false,
      notifyUp: { argv: ["/bin/up"] },
      notifyDown: { argv: ["/bin/down"], user: "nobody" },
    });
    assert.deepEqual(s.dests[1]!.health, { checkers: [], inhibitOnFailure: false });
  });

  it("sorry server method: the one the real servers share, else masq, or as given", () => {
    const sorry = (method: string, extra = "") =>
      service(`services:
  - tcp: 198.18.0.10:80
    health:
      sorry-server: "198.18.0.99:8080"
${extra}    servers:
      - address: 198.19.0.1
        method: ${method}
`).health!.sorryServer;
    assert.deepEqual(sorry("route"), { addr: "198.18.0.99", port: 8080, method: "route", inhibit: false });
    assert.equal(sorry("local")!.method, "masq");
    assert.deepEqual(
      sorry("route", "      sorry-server-method: tunnel\n      sorry-server-inhibit: true\n"),
      {
        addr: "198.18.0.99",
        port: 8080,
        method: "tunnel",
        inhibit: true,
      },
    );
  });

  it("checks on a server alone turn health on with the defaults; no health keys: none", () => {
    const s = service(yaml("", "        checks: [tcp]\n"));
    assert.deepEqual(s.health, { quorum: 1, hysteresis: 0, omega: false, haSuspend: false });
    assert.equal(service(yaml("", "")).health, undefined);
    assert.equal(service(yaml("", "")).dests[0]!.health, undefined);
    assert.deepEqual(service(yaml("    health:\n", "")).health, {
      quorum: 1,
      hysteresis: 0,
      omega: false,
      haSuspend: false,
    });
  });

  it("a route server on a fwmark service is checked on port 0; quorum falls to a total weight of 0", () => {
    const s = service(`services:
  - fwmark: 5
    persistent: true
    servers:
      - address: 198.19.0.1
        weight: 0
        checks: [tcp]
`);
    assert.deepEqual(s.dests[0]!.health!.checkers[0]!.probe, {
      kind: "TCP_CHECK",
      target: { connectIp: "198.19.0.1", connectPort: 0 },
    });
    assert.equal(s.health!.quorum, 0);
  });

  it("the state file leaves health out", () => {
    const state = parseConfig(yaml("    health: { quorum: 1 }\n", "        checks: [tcp]\n"), "tslvs.yaml");
    const text = dumpConfig(state);
    assert.doesNotMatch(text, /health|checks/);
    const back = parseConfig(text, "state.yaml").services[0]!;
    assert.equal(back.health, undefined);
    assert.equal(back.dests[0]!.health, undefined);
  });
});

describe("YAML health checks: errors", () => {
  const H = (body: string) => yaml(`    health:\n${body}`, "");
  const C = (list: string) => yaml("", `        checks:\n${list}`);
  it("refuses unknown keys and kinds, with their lines", () => {
    fails(H("      quorom: 1\n"), 5, /unknown key "quorom" in health/);
    fails(C("          - tcp: { delay_loop: 1 }\n"), 9, /unknown key "delay_loop" in a tcp check/);
    fails(C("          - icmp: {}\n"), 9, /unknown check "icmp"/);
    fails(C("          - tcp: {}\n            udp: {}\n"), 9, /a check is one of/);
    fails(C("          - misc: { script: /bin/x, connect-ip: 1.2.3.4 }\n"), 9, /unknown key "connect-ip"/);
    fails(C("          - file: { file: /x, retry: 1 }\n"), 9, /unknown key "retry"/);
    fails(C("          - ping: { connect-port: 1 }\n"), 9, /unknown key "connect-port"/);
    fails(
      C("          - tcp: {}\n          - http: { urls: [{ path: /, regex: x }] }\n"),
      10,
      /unknown key "regex" in a url/,
    );
    fails(yaml("", "        notify_up: /bin/x\n"), 8, /unknown key "notify_up" in a real server/);
  });

  it("refuses values out of keepalived's ranges", () => {
    fails(H("      retry: 0\n"), 5, /retry must be an integer in 1\.\.4294967295/);
    fails(H("      delay-loop: 0\n"), 5, /delay-loop must be seconds above 0/);
    fails(H("      warmup: -1\n"), 5, /warmup must be seconds from 0/);
    fails(H("      connect-timeout: 5000000\n"), 5, /up to 4294967/);
    fails(H("      quorum: 0\n"), 5, /quorum must be an integer in 1\.\./);
    fails(H("      quorum: 4\n"), 5, /quorum 4 is above the real servers' total weight 3/);
    fails(H("      quorum: 2\n      hysteresis: 2\n"), 6, /hysteresis 2 must be below the quorum 2/);
    fails(H("      alpha: yes please\n"), 5, /alpha must be true or false/);
    fails(
      C("          - tcp: { connect-port: 65536 }\n"),
      9,
      /connect-port must be an integer in 0\.\.65535/,
    );
    fails(C("          - tcp: { connect-ip: 1.2.3 }\n"), 9, /connect-ip must be an IP address/);
    fails(C("          - tcp: { bind-if: abcdefghijklmnop }\n"), 9, /at most 15 characters/);
    fails(
      C("          - http: { urls: [{ path: /, status: 600 }] }\n"),
      9,
      /status "600" is not a code or range/,
    );
    fails(C("          - http: { urls: [{ path: /, status: 299-200 }] }\n"), 9, /status "299-200"/);
    fails(C("          - http: { urls: [{ path: /, digest: abc }] }\n"), 9, /digest must be 32 hex digits/);
    fails(C("          - http: { urls: [{ path: / }], http-protocol: 2 }\n"), 9, /http-protocol must be/);
    fails(C("          - udp: { payload: zz }\n"), 9, /payload must be hex bytes/);
    fails(
      C("          - udp: { min-reply-length: 9, max-reply-length: 8 }\n"),
      9,
      /min-reply-length 9 is above/,
    );
    fails(C("          - dns: { type: PTR }\n"), 9, /type must be one of A, NS/);
    fails(C("          - misc: { script: /bin/x, timeout: 0 }\n"), 9, /timeout must be an integer in 1\.\./);
    fails(C("          - file: { file: /x, weight: 2147483648 }\n"), 9, /weight must be an integer/);
  });

  it("refuses what cannot work", () => {
    fails(C("          - http: {}\n"), 9, /an http check needs urls:/);
    fails(C("          - http:\n              urls: []\n"), 10, /an http check needs urls:/);
    fails(C("          - http: { urls: [{ status: 200 }] }\n"), 9, /a url needs path:/);
    fails(C("          - misc: {}\n"), 9, /a misc check needs script:/);
    fails(C('          - misc: { script: "  " }\n'), 9, /script needs a command/);
    fails(C("          - misc: { script: /bin/x, group: g }\n"), 9, /group: needs user:/);
    fails(C("          - file: { weight: 1 }\n"), 9, /a file check needs file:/);
    fails(H("      sorry-server-inhibit: true\n"), 5, /need sorry-server:/);
    fails(H("      sorry-server: 198.18.0.99:99999\n"), 5, /sorry-server must be address\[:port\]/);
    fails(H('      sorry-server: "[2001:db8::1]:80"\n'), 5, /another address family/);
    fails(
      H("      sorry-server: 198.19.0.1:8080\n      sorry-server-inhibit: true\n"),
      6,
      /is real server .* too/,
    );
    fails(
      `services:\n  - fwmark: 1\n    health:\n      ha-suspend: true\n`,
      4,
      /ha-suspend is not valid for a fwmark service/,
    );
  });
});

describe("YAML and keepalived.conf give the same health model", () => {
  const KA = `track_file flag {
  file /run/flag
  weight 0 reverse
}
virtual_server 198.18.0.10 80 {
  lvs_sched wrr
  lvs_method NAT
  protocol TCP
  delay_loop 30
  connect_timeout 4
  retry 2
  virtualhost www.example.com
  inhibit_on_failure
  quorum 2
  hysteresis 1
  quorum_up "/usr/local/bin/page up"
  quorum_down "/usr/local/bin/page down" pager
  sorry_server 198.18.0.99 8080
  omega
  tslvs_sensor off
  real_server 198.19.0.1 8080 {
    weight 3
    inhibit_on_failure off
    notify_up "/bin/up 198.19.0.1"
    notify_down /bin/down nobody nogroup
    delay_before_retry 2
    TCP_CHECK {
      connect_port 8081
      bindto 198.19.0.250
      fwmark 9
    }
    HTTP_GET {
      url {
        path /healthz
        status_code 200-299 301
        digest 9b3a0c85a887a256d6939da88aabd8cd
      }
      url {
        path /other
        virtualhost other.example.com
      }
      http_protocol 1.1
      fast_recovery
    }
    SSL_GET {
      url {
        path /
      }
      enable_sni
      sni_name tls.example.com
      alpha
    }
    UDP_CHECK {
      payload 00 01
      require_reply 0x
      max_reply_length 100
    }
    DNS_CHECK {
      type A
      name www.example.com
      delay_loop 10
    }
    SMTP_CHECK {
      helo_name mail.example.com
      log_all_failures
    }
    PING_CHECK {
      warmup 0
    }
    MISC_CHECK {
      misc_path "/usr/local/bin/check 198.19.0.1"
      misc_timeout 5
      misc_dynamic
      user nobody
    }
    MISC_CHECK {
      misc_path /bin/true
    }
    FILE_CHECK {
      track_file flag
    }
  }
  real_server 198.19.0.2 8080 {
    weight 1
  }
}
`;
  const YAML = `services:
  - tcp: 198.18.0.10:80
    scheduler: wrr
    health:
      delay-loop: 30
      connect-timeout: 4
      retry: 2
      virtualhost: www.example.com
      inhibit-on-failure: true
      quorum: 2
      hysteresis: 1
      quorum-up: "/usr/local/bin/page up"
      quorum-down: { command: /usr/local/bin/page down, user: pager }
      sorry-server: 198.18.0.99:8080
      omega: true
      sensor: false
    servers:
      - address: 198.19.0.1:8080
        method: masq
        weight: 3
        inhibit-on-failure: false
        notify-up: "/bin/up 198.19.0.1"
        notify-down: { command: /bin/down, user: nobody, group: nogroup }
        delay-before-retry: 2
        checks:
          - tcp: { connect-port: 8081, bindto: 198.19.0.250, fwmark: 9 }
          - http:
              urls:
                - path: /healthz
                  status: "200-299 301"
                  digest: 9b3a0c85a887a256d6939da88aabd8cd
                - path: /other
                  virtualhost: other.example.com
              http-protocol: "1.1"
              fast-recovery: true
          - https: { urls: [{ path: / }], sni: true, sni-name: tls.example.com, alpha: true }
          - udp: { payload: "00 01", require-reply: "0x", max-reply-length: 100 }
          - dns: { type: A, name: www.example.com, delay-loop: 10 }
          - smtp: { helo-name: mail.example.com, log-all-failures: true }
          - ping: { warmup: 0 }
          - misc: { script: "/usr/local/bin/check 198.19.0.1", timeout: 5, dynamic: true, user: nobody }
          - misc: { script: /bin/true }
          - file: { name: flag, file: /run/flag, weight: 0, reverse: true }
      - address: 198.19.0.2:8080
        method: masq
`;

  it("deep-equal services, real servers and health", () => {
    const ka = parseKeepalivedText(KA, "/x/keepalived.conf", { configId: "me" });
    assert.deepEqual(
      ka.diagnostics.filter((d) => !d.strictOnly),
      [],
    );
    const y = parseConfig(YAML, "tslvs.yaml");
    const strip = (s: DesiredService) => ({ ...s, line: 0 });
    assert.equal(ka.state.services.length, 1);
    assert.deepEqual(y.services.map(strip), ka.state.services.map(strip));
    // The comparison covers every kind.
    const kinds = y.services[0]!.dests[0]!.health!.checkers.map((c) => c.probe.kind);
    assert.deepEqual(new Set(kinds).size, 9);
  });

  it("defaults alone give the same model too", () => {
    const ka = parseKeepalivedText(
      `virtual_server 198.18.0.10 80 {\n lvs_sched wlc\n lvs_method NAT\n protocol TCP\n real_server 198.19.0.1 80 {\n  TCP_CHECK {\n  }\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n  DNS_CHECK {\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\n`,
      "/x/keepalived.conf",
      { configId: "me" },
    );
    const y = parseConfig(
      `services:\n  - tcp: 198.18.0.10:80\n    servers:\n      - address: 198.19.0.1\n        method: masq\n        checks: [tcp, { http: { urls: [{ path: / }] } }, dns, { misc: { script: /bin/true } }]\n`,
      "tslvs.yaml",
    );
    assert.deepEqual(y.services[0]!.health, ka.state.services[0]!.health);
    assert.deepEqual(y.services[0]!.dests, ka.state.services[0]!.dests);
  });
});
