/**
 * The `--http` endpoint's protection, in process: the bearer token (`--http-token-file`) on every
 * request, the login form and its cookie for a browser, the token file refused when others may read
 * it, HTTPS (`--http-tls-cert`/`--http-tls-key`, a self-signed ECDSA certificate made by openssl),
 * and bad input: a 16 KiB header answered 431, a client sending its headers a byte at a time cut by
 * the headers timeout, the sockets past maxConnections closed on arrival. The endpoint listens on a
 * Unix socket (`--http unix:PATH`), so no address of the test machine is used.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { pino } from "pino";
import { startCommand } from "../src/cli/tslvs-start.js";
import { Daemon, type DaemonOptions } from "../src/control/daemon.js";
import { HttpEndpoint, loadHttpSecurity, parseHttpAddress } from "../src/control/http-endpoint.js";
import { makeEcdsaCert } from "./support/certificate.js";
import { needsCommand } from "./support/privileged.js";
import { RealDirector } from "./support/real-director.js";
import { unixFetch } from "./support/unix-http.js";

const TOKEN = "s3cret-token-for-tests";
const dir = mkdtempSync(join(tmpdir(), "tslvs-http-security-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let endpoints = 0;

function tokenFile(name: string, mode: number, text = `${TOKEN}\n`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function options(name: string, httpSecurity: DaemonOptions["httpSecurity"]): DaemonOptions {
  return {
    socketPath: join(dir, `${name}.sock`),
    statePath: join(dir, `${name}-state.yaml`),
    logLevel: "silent",
    interfaces: [],
    http: { host: "", port: 0, path: join(dir, `${name}-http.sock`) },
    httpSecurity,
  };
}

function startDaemon(name: string, httpSecurity: DaemonOptions["httpSecurity"]): Promise<Daemon> {
  return Daemon.start(options(name, httpSecurity), {
    director: new RealDirector(),
    logger: pino({ level: "silent" }),
  });
}

/** Writes `text` to a raw connection; resolves with what came back and when the server closed it. */
function raw(sock: string, feed: (s: Socket) => void): Promise<{ reply: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = connect(sock, () => feed(s));
    let reply = "";
    s.on("data", (d: Buffer) => {
      reply += d.toString("latin1");
    });
    // A reset (the server closing a socket with unread bytes) is a close like any other here.
    s.on("error", () => {});
    s.on("close", () => resolve({ reply, closedAfterMs: Date.now() - started }));
  });
}

describe("http endpoint: the bearer token and the login form", () => {
  it("401 without or with a wrong token, 200 with it; a browser signs in and its cookie serves /", async () => {
    const daemon = await startDaemon("token", { tokenFile: tokenFile("token", 0o600) });
    try {
      const sock = daemon.httpAddress?.path ?? "";
      const none = await unixFetch(sock, `/metrics`);
      assert.equal(none.status, 401);
      assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
      const wrong = await unixFetch(sock, `/metrics`, { headers: { authorization: "Bearer nope" } });
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get("www-authenticate") ?? "", /^Bearer/);
      const right = await unixFetch(sock, `/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(right.status, 200);
      assert.match(await right.text(), /^tslvs_info\{/m);
      // A script asking for the dashboard's JSON is not shown a form.
      assert.equal((await unixFetch(sock, `/api/dashboard`)).status, 401);

      // A browser: the form at / and at /login.
      const page = await unixFetch(sock, `/`, { headers: { accept: "text/html,application/xhtml+xml" } });
      assert.equal(page.status, 401);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(await page.text(), /<form method="post" action="\/login">/);
      assert.equal((await unixFetch(sock, `/login`)).status, 200);

      const post = (token: string) =>
        unixFetch(sock, `/login`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ token }).toString(),
        });
      const refused = await post("wrong");
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("set-cookie"), null);
      assert.match(await refused.text(), /Wrong token/);

      const signedIn = await post(TOKEN);
      assert.equal(signedIn.status, 303);
      assert.equal(signedIn.headers.get("location"), "/");
      const cookie = signedIn.headers.get("set-cookie") ?? "";
      assert.match(cookie, /^tslvs_token=[^;]+; /);
      assert.match(cookie, /; HttpOnly(;|$)/);
      assert.match(cookie, /; SameSite=Strict(;|$)/);
      assert.match(cookie, /; Path=\/(;|$)/);
      assert.doesNotMatch(cookie, /Secure/, "no Secure flag over plain HTTP");

      const pair = cookie.split(";")[0] ?? "";
      const dashboard = await unixFetch(sock, `/`, { headers: { cookie: pair, accept: "text/html" } });
      assert.equal(dashboard.status, 200);
      assert.match(await dashboard.text(), /dashboard\.js/);
      assert.equal((await unixFetch(sock, `/api/dashboard`, { headers: { cookie: pair } })).status, 200);
      assert.equal((await unixFetch(sock, `/`, { headers: { cookie: "tslvs_token=other" } })).status, 401);

      // Read-only still: POST only to /login, even with the token.
      const postMetrics = await unixFetch(sock, `/metrics`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(postMetrics.status, 405);
    } finally {
      await daemon.stop("test");
    }
  });

  it("refuses to start with a token file others may read, an empty one, or a missing one", async () => {
    const cases: [string, string, RegExp][] = [
      ["open", tokenFile("open", 0o644), /group or others may access it \(mode 0644\).*chmod 600/],
      ["empty", tokenFile("empty", 0o600, "\n"), /first line is empty/],
      ["missing", join(dir, "absent"), /cannot read it \(ENOENT\)/],
    ];
    for (const [name, path, why] of cases) {
      await assert.rejects(startDaemon(name, { tokenFile: path }), why, name);
      // Refused before the control socket was taken.
      assert.equal(existsSync(join(dir, `${name}.sock`)), false, name);
    }
    // The token is the first line, trimmed.
    assert.equal(
      loadHttpSecurity({ tokenFile: tokenFile("lines", 0o400, `  ${TOKEN} \nsecond\n`) }).token,
      TOKEN,
    );
  });

  it("tslvs start: the TLS flags go together and the new flags need --http (usage errors)", async () => {
    const write = process.stderr.write;
    process.stderr.write = () => true;
    try {
      assert.equal(await startCommand(["--http", "9100", "--http-tls-cert", "c.pem"]), 2);
      assert.equal(await startCommand(["--http-token-file", "t"]), 2);
    } finally {
      process.stderr.write = write;
    }
  });
});

describe("http endpoint: HTTPS", () => {
  it("serves /metrics over TLS with the token; the login cookie is Secure", {
    skip: needsCommand("openssl"),
  }, async () => {
    const { cert, key } = makeEcdsaCert(dir, "tslvs-test", "DNS:localhost");
    await assert.rejects(
      startDaemon("tls-missing", { tlsCert: cert, tlsKey: join(dir, "no-key.pem") }),
      /--http-tls-key .*no-key\.pem: cannot read it/,
    );
    const daemon = await startDaemon("tls", {
      tokenFile: tokenFile("tls-token", 0o600),
      tlsCert: cert,
      tlsKey: key,
    });
    try {
      const sock = daemon.httpAddress?.path ?? "";
      const ca = readFileSync(cert);
      const get = async (path: string, method: string, headers: Record<string, string>, body = "") => {
        const r = await unixFetch(sock, path, { method, headers, body, ca });
        return { status: r.status, headers: r.headers.raw, body: await r.text() };
      };
      assert.equal((await get("/metrics", "GET", {})).status, 401);
      const metrics = await get("/metrics", "GET", { authorization: `Bearer ${TOKEN}` });
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /^tslvs_info\{/m);
      const login = await get(
        "/login",
        "POST",
        { "content-type": "application/x-www-form-urlencoded" },
        new URLSearchParams({ token: TOKEN }).toString(),
      );
      assert.equal(login.status, 303);
      const cookie = login.headers["set-cookie"]?.[0] ?? "";
      assert.match(cookie, /; HttpOnly; SameSite=Strict; Path=\/; Secure$/);
      // Plain HTTP on the HTTPS port gets nothing served.
      assert.notEqual((await unixFetch(sock, "/metrics").catch(() => null))?.status, 200);
    } finally {
      await daemon.stop("test");
    }
  });
});

describe("http endpoint: bad input", () => {
  it("answers a 16 KiB header 431 and cuts a client sending its headers a byte at a time", async () => {
    const endpoint = await HttpEndpoint.listen(
      { host: "", port: 0, path: join(dir, `ep-${++endpoints}.sock`) },
      { headersTimeoutMs: 400 },
    );
    endpoint.metrics = async () => [Buffer.from("ok\n")];
    try {
      const sock = endpoint.address.path ?? "";
      const big = await raw(sock, (s) =>
        s.end(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(16 * 1024)}\r\n\r\n`),
      );
      assert.match(big.reply, /^HTTP\/1\.1 431 /);

      // Still serving afterwards.
      assert.equal((await unixFetch(sock, "/metrics")).status, 200);

      // Slowloris: a byte every 100 ms of a request that would take 4 s to arrive.
      const request = "GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow-slow-slow\r\n\r\n";
      let timer: NodeJS.Timeout | undefined;
      const slow = await raw(sock, (s) => {
        let i = 0;
        timer = setInterval(() => {
          if (i < request.length && !s.destroyed) s.write(request[i++] ?? "");
        }, 100);
      });
      clearInterval(timer);
      assert.ok(slow.closedAfterMs < request.length * 100, `closed after ${slow.closedAfterMs} ms`);
      assert.match(slow.reply, /^(HTTP\/1\.1 408 |$)/);
    } finally {
      await endpoint.close();
    }
  });

  it("closes the sockets past maxConnections on arrival, and serves again once they are gone", async () => {
    const endpoint = await HttpEndpoint.listen(
      { host: "", port: 0, path: join(dir, `ep-${++endpoints}.sock`) },
      { maxConnections: 2 },
    );
    endpoint.metrics = async () => [Buffer.from("ok\n")];
    const held: Socket[] = [];
    try {
      const sock = endpoint.address.path ?? "";
      for (let i = 0; i < 2; i++)
        held.push(
          await new Promise<Socket>((resolve) =>
            connect(sock, function (this: Socket) {
              resolve(this);
            }),
          ),
        );
      // Give the server the two connections before the third arrives.
      await new Promise((r) => setTimeout(r, 50));
      const third = await raw(sock, (s) => s.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert.equal(third.reply, "", "the third socket is closed unanswered");
      for (const s of held) s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await unixFetch(sock, "/metrics")).status, 200);
    } finally {
      for (const s of held) s.destroy();
      await endpoint.close();
    }
  });
});

describe("--http address forms", () => {
  it("a port alone is loopback, ADDR:PORT and [V6]:PORT as given, unix:/PATH a Unix socket", () => {
    assert.deepEqual(parseHttpAddress("9117"), { host: "127.0.0.1", port: 9117 });
    assert.deepEqual(parseHttpAddress("198.18.0.2:9117"), { host: "198.18.0.2", port: 9117 });
    assert.deepEqual(parseHttpAddress("unix:/run/tslvs/http.sock"), {
      host: "",
      port: 0,
      path: "/run/tslvs/http.sock",
    });
    assert.throws(() => parseHttpAddress("unix:relative.sock"), /absolute path/);
    assert.throws(() => parseHttpAddress("nonsense"), /not an address/);
  });
});

describe("http endpoint: gzip", () => {
  it("/metrics gzip-compressed for a client that accepts it, the same text once decompressed", async () => {
    const daemon = await startDaemon("gzip", {});
    try {
      const sock = daemon.httpAddress?.path ?? "";
      const plain = await unixFetch(sock, "/metrics");
      assert.equal(plain.headers.get("content-encoding"), null);
      assert.equal(plain.headers.get("vary"), "accept-encoding");
      const text = await plain.text();
      const zipped = await unixFetch(sock, "/metrics", { headers: { "accept-encoding": "gzip, deflate" } });
      assert.equal(zipped.status, 200);
      assert.equal(zipped.headers.get("content-encoding"), "gzip");
      // Within the second both come from one render: the same text.
      assert.equal(gunzipSync(await zipped.buffer()).toString("utf8"), text);
      const refused = await unixFetch(sock, "/metrics", {
        headers: { "accept-encoding": "gzip;q=0, identity" },
      });
      assert.equal(refused.headers.get("content-encoding"), null);
    } finally {
      await daemon.stop("test");
    }
  });
});
