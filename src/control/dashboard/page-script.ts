/**
 * The dashboard's script, served at `GET /dashboard.js` (why a string module: page-html.ts). Plain
 * browser JavaScript, no framework: every 2 s it fetches api/dashboard, keeps five minutes of each
 * service's counters, and redraws. Rates are the differences between its own samples, drawn as
 * inline SVG sparklines. Everything the daemon sends is set as text (textContent), never as HTML.
 * (Written without backquotes, backslashes or dollar-brace, which this template literal would take.)
 */
export const DASHBOARD_JS = `"use strict";
(() => {
  const POLL_MS = 2000;
  const WINDOW_MS = 5 * 60 * 1000;
  const SVG = "http://www.w3.org/2000/svg";
  /** service name -> samples {t, conns, pkts, bytes}, oldest first, the last five minutes. */
  const history = new Map();
  let lastOk = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
    }
    return e;
  }

  function num(n) {
    if (!Number.isFinite(n)) return "-";
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
    return Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1);
  }

  function bytes(n) {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (Math.abs(n) >= 1000 && i < units.length - 1) {
      n /= 1000;
      i++;
    }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
  }

  function ago(iso) {
    if (!iso) return "";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function clock(iso) {
    const d = new Date(iso);
    return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + d.toLocaleTimeString();
  }

  function card(label, value, sub, extra) {
    return el("div", { class: "card" }, el("div", { class: "label" }, label),
      el("div", { class: "value" }, value), sub ? el("div", { class: "sub" }, sub) : null, extra || null);
  }

  function bar(fraction, bad) {
    const inner = el("div");
    inner.style.width = (Math.min(1, Math.max(0, fraction)) * 100).toFixed(1) + "%";
    return el("div", { class: bad ? "bar bad" : "bar" }, inner);
  }

  /** Rates between consecutive samples: [{t, v}] for the field. */
  function rates(samples, field) {
    const out = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      const dt = (b.t - a.t) / 1000;
      // A counter that went down was zeroed (tslvsadm -Z): no rate for that step.
      if (dt > 0 && b[field] >= a[field]) out.push({ t: b.t, v: (b[field] - a[field]) / dt });
    }
    return out;
  }

  function sparkline(points, now) {
    const w = 180;
    const h = 36;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", String(w));
    svg.setAttribute("height", String(h));
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    const max = Math.max(1e-9, ...points.map((p) => p.v));
    const x = (t) => (w * (t - (now - WINDOW_MS))) / WINDOW_MS;
    const y = (v) => h - 2 - ((h - 4) * v) / max;
    const coords = points.map((p) => x(p.t).toFixed(1) + "," + y(p.v).toFixed(1));
    // The frame is the whole five minutes, now at the right edge: a new page fills in from there.
    const frame = document.createElementNS(SVG, "rect");
    frame.setAttribute("width", String(w));
    frame.setAttribute("height", String(h));
    svg.append(frame);
    if (coords.length >= 2) {
      const area = document.createElementNS(SVG, "path");
      area.setAttribute("d", "M" + x(points[0].t).toFixed(1) + "," + h + " L" + coords.join(" L") +
        " L" + x(points[points.length - 1].t).toFixed(1) + "," + h + " Z");
      svg.append(area);
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", coords.join(" "));
      svg.append(line);
    }
    return svg;
  }

  function spark(label, points, now, fmt, cls) {
    const last = points.length ? points[points.length - 1].v : null;
    const peak = points.length ? Math.max(...points.map((p) => p.v)) : null;
    return el("div", { class: "spark " + cls },
      el("span", { class: "label" }, label),
      el("span", { class: "now" }, last === null ? "collecting" : fmt(last),
        peak === null ? "" : el("span", { class: "muted" }, "  peak " + fmt(peak))),
      sparkline(points, now));
  }

  function healthCell(rs) {
    const h = rs.health;
    if (!h) return el("td", {}, el("span", { class: "pill" }, "unchecked"));
    const cls = h.state === "alive" ? "ok" : h.state === "failed" ? "bad" : "warn";
    return el("td", { title: h.lastTransition ? "since " + clock(h.lastTransition) : "" },
      el("span", { class: "pill " + cls + " state" }, h.state));
  }

  function lastCheck(rs) {
    const l = rs.health && rs.health.last;
    if (!l) return el("td", { class: "why" }, rs.health ? "not run yet" : "");
    const what = l.kind + " " + (l.ok ? "ok" : "failed") + ", " + Math.round(l.latencyMs) + " ms, " + ago(l.at);
    return el("td", { class: "why" }, l.ok || !l.reason ? what : what + ": " + l.reason);
  }

  function weightText(rs) {
    if (rs.health && rs.weight !== rs.health.effectiveWeight && rs.weight !== null)
      return rs.weight + " (config " + rs.health.weight + ")";
    if (rs.weight === null) return rs.health ? "out (config " + rs.health.weight + ")" : "-";
    return String(rs.weight);
  }

  function serviceBlock(svc, now) {
    const samples = history.get(svc.name) || [];
    const head = el("div", { class: "service-head" },
      el("h3", {}, svc.name),
      el("span", { class: "muted" }, svc.scheduler + (svc.persistent ? ", persistent" : "")),
      svc.quorum ? el("span", { class: "pill " + (svc.quorum.up ? "ok" : "bad") },
        "quorum " + (svc.quorum.up ? "up" : "down")) : null,
      el("span", { class: "grow" }),
      el("span", { class: "figure" }, el("b", { class: "active" }, num(svc.activeConns)), " active"),
      el("span", { class: "figure" }, el("b", { class: "inactive" }, num(svc.inactConns)), " inactive"),
      el("span", { class: "figure" }, el("b", { class: "conns-total" }, num(svc.stats.conns)), " connections"));
    const sparks = el("div", { class: "sparks" },
      spark("connections/s", rates(samples, "conns"), now, num, "cps"),
      spark("packets/s", rates(samples, "pkts"), now, num, "pps"),
      spark("bytes/s", rates(samples, "bytes"), now, (v) => bytes(v) + "/s", "bps"));
    const rows = svc.realServers.map((rs) =>
      el("tr", { "data-rs": rs.target },
        el("td", { class: "target" }, rs.target),
        el("td", {}, rs.method),
        el("td", { class: "num weight" }, weightText(rs)),
        healthCell(rs),
        el("td", { class: "num active" }, num(rs.activeConns)),
        el("td", { class: "num inactive" }, num(rs.inactConns)),
        el("td", { class: "num conns-total" }, num(rs.stats.conns)),
        el("td", { class: "num" }, bytes(rs.stats.inBytes + rs.stats.outBytes)),
        lastCheck(rs)));
    const table = el("table", {},
      el("thead", {}, el("tr", {},
        el("th", {}, "real server"), el("th", {}, "method"), el("th", { class: "num" }, "weight"),
        el("th", {}, "health"), el("th", { class: "num" }, "active"), el("th", { class: "num" }, "inactive"),
        el("th", { class: "num" }, "connections"), el("th", { class: "num" }, "bytes"),
        el("th", {}, "last check"))),
      el("tbody", {}, ...rows));
    const hidden = svc.realServersTotal - svc.realServers.length;
    return el("div", { class: "service", "data-service": svc.name }, head, sparks, table,
      hidden > 0 ? el("div", { class: "more" }, hidden + " more real servers not shown") : null);
  }

  function summary(doc) {
    const t = doc.table;
    const fill = t.capacity > 0 ? t.entries / t.capacity : 0;
    const cards = [
      card("connection table", num(t.entries), (fill * 100).toFixed(1) + "% of " + num(t.capacity) +
        (t.refusedFull ? ", " + num(t.refusedFull) + " refused (full)" : ""), bar(fill, fill > 0.9)),
    ];
    const e = doc.engine;
    if (e) {
      const share = e.fastPathShare;
      cards.push(card("fast path", share === null ? "-" : (share * 100).toFixed(1) + "%",
        "of packets, " + num(e.fastPath ? e.fastPath.packets : 0) + " fast / " + num(e.slowPathFrames.rx) + " slow",
        bar(share || 0, false)));
      const drops = Object.entries(e.drops).filter((d) => d[1] > 0).sort((a, b) => b[1] - a[1]);
      const total = drops.reduce((s, d) => s + d[1], 0);
      cards.push(card("drops", num(total), drops.length ? "by reason" : "none",
        el("ul", { class: "drops" }, ...drops.map((d) => el("li", {}, el("span", {}, d[0]), el("span", {}, num(d[1])))))));
    } else {
      cards.push(card("data plane", "none", "rules are held, no packets forwarded"));
    }
    cards.push(card("reloads", num(doc.reloads.applied), doc.reloads.refused + " refused"));
    $("summary").replaceChildren(...cards);
  }

  function events(list) {
    const items = list.map((ev) => el("li", { class: "ev-" + ev.kind },
      el("time", { datetime: ev.at }, clock(ev.at)),
      el("span", { class: "kind pill " + (/down|refused|full/.test(ev.kind) ? "bad" : /up|room|applied/.test(ev.kind) ? "ok" : "") }, ev.kind),
      el("span", {}, ev.message)));
    $("events").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "none yet")]));
  }

  function remember(doc, now) {
    const names = new Set();
    for (const s of doc.services) {
      names.add(s.name);
      let h = history.get(s.name);
      if (!h) history.set(s.name, (h = []));
      h.push({ t: now, conns: s.stats.conns, pkts: s.stats.inPkts + s.stats.outPkts, bytes: s.stats.inBytes + s.stats.outBytes });
      while (h.length && h[0].t < now - WINDOW_MS) h.shift();
    }
    for (const name of [...history.keys()]) if (!names.has(name)) history.delete(name);
  }

  function render(doc) {
    const now = Date.now();
    remember(doc, now);
    $("host").textContent = doc.host + " · tslvs " + doc.version + " · up since " + clock(doc.startedAt);
    const status = $("status");
    status.textContent = doc.ready ? (doc.dataPlane ? "forwarding" : "rules held, no data plane") : "starting";
    status.className = "pill " + (doc.ready ? (doc.dataPlane ? "ok" : "warn") : "warn");
    $("updated").textContent = "updated " + new Date(doc.at).toLocaleTimeString();
    $("svc-count").textContent = doc.servicesTotal > doc.services.length
      ? doc.services.length + " of " + doc.servicesTotal + " shown" : String(doc.servicesTotal);
    summary(doc);
    $("services").replaceChildren(...(doc.services.length
      ? doc.services.map((s) => serviceBlock(s, now))
      : [el("p", { class: "muted" }, "no virtual service")]));
    events(doc.events);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  async function poll() {
    try {
      const r = await fetch("api/dashboard", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      render(await r.json());
      lastOk = Date.now();
      $("banner").hidden = true;
    } catch (e) {
      const b = $("banner");
      b.textContent = "No answer from the daemon (" + (e && e.message ? e.message : e) + ")" +
        (lastOk ? ": the figures are from " + new Date(lastOk).toLocaleTimeString() : "");
      b.hidden = false;
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
`;
