/**
 * Drives the dashboard in a real headless Chromium, for test/dashboard.test.ts. Run inside the
 * director's namespace (`ip netns exec NS node dashboard-driver.js URL`): the page is served on
 * that namespace's loopback, and Chromium's DevTools socket is there too, out of the test's reach.
 *
 * It loads URL, then answers one JSON line on stdout per command line on stdin:
 *   {"cmd":"read"}               the page after its next redraw: services, real servers, events
 *   {"cmd":"screenshot","path"}  a full-page PNG
 *   {"cmd":"quit"}
 * Every line carries the problems seen so far: console errors, page errors, failed requests and
 * responses with an error status.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

export interface DashboardReading {
  updates: number;
  status: string;
  summary: string;
  services: {
    name: string;
    active: string;
    inactive: string;
    connections: string;
    sparklines: number;
    rates: string[];
    realServers: {
      target: string;
      weight: string;
      health: string;
      active: string;
      inactive: string;
      connections: string;
      lastCheck: string;
    }[];
  }[];
  events: string[];
  banner: string | null;
}

export interface DriverLine {
  ok: boolean;
  error?: string;
  reading?: DashboardReading;
  problems: string[];
}

/** What the page shows, read from the DOM (a string: the test's tsconfig has no DOM types). */
const READ_PAGE = `(() => {
  const text = (root, sel) => (root.querySelector(sel)?.textContent ?? "").trim();
  const banner = document.getElementById("banner");
  return {
    updates: Number(document.body.dataset.updates || 0),
    status: text(document, "#status"),
    summary: text(document, "#summary"),
    services: [...document.querySelectorAll("[data-service]")].map((s) => ({
      name: s.dataset.service,
      active: text(s, ".service-head .active"),
      inactive: text(s, ".service-head .inactive"),
      connections: text(s, ".service-head .conns-total"),
      sparklines: s.querySelectorAll(".spark svg").length,
      rates: [...s.querySelectorAll(".spark .now")].map((e) => e.textContent.trim()),
      realServers: [...s.querySelectorAll("tr[data-rs]")].map((r) => ({
        target: r.dataset.rs,
        weight: text(r, ".weight"),
        health: text(r, ".state") || text(r, ".pill"),
        active: text(r, ".active"),
        inactive: text(r, ".inactive"),
        connections: text(r, ".conns-total"),
        lastCheck: text(r, ".why"),
      })),
    })),
    events: [...document.querySelectorAll("#events li")].map((e) => e.textContent.trim()),
    banner: banner && !banner.hidden ? banner.textContent : null,
  };
})()`;

async function main(): Promise<void> {
  const url = process.argv[2];
  if (!url) throw new Error("usage: dashboard-driver URL");
  const profile = mkdtempSync(join(tmpdir(), "tslvs-chromium-"));
  const problems: string[] = [];
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    userDataDir: profile,
    // Root in a namespace: no sandbox; no GPU or /dev/shm assumptions on a test machine.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  const say = (line: Omit<DriverLine, "problems">) =>
    process.stdout.write(`${JSON.stringify({ ...line, problems })}\n`);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warn") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${String(e)}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    await page.goto(url, { waitUntil: "load", timeout: 15000 });
    await page.waitForFunction("Number(document.body.dataset.updates || 0) >= 1", { timeout: 10000 });
    say({ ok: true });
    let seen = 0;
    for await (const line of createInterface({ input: process.stdin })) {
      const cmd = JSON.parse(line) as { cmd: string; path?: string };
      try {
        if (cmd.cmd === "read") {
          // A reading is always of a redraw after the command: the figures are fresh.
          await page.waitForFunction(`Number(document.body.dataset.updates || 0) > ${seen}`, {
            timeout: 10000,
          });
          const reading = (await page.evaluate(READ_PAGE)) as DashboardReading;
          seen = reading.updates;
          say({ ok: true, reading });
        } else if (cmd.cmd === "screenshot" && cmd.path) {
          await page.screenshot({ path: cmd.path as `${string}.png`, fullPage: true });
          say({ ok: true });
        } else if (cmd.cmd === "quit") {
          break;
        } else {
          say({ ok: false, error: `unknown command ${line}` });
        }
      } catch (e) {
        say({ ok: false, error: (e as Error).message });
      }
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`dashboard-driver: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
