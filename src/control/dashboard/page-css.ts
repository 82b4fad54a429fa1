/** The dashboard's stylesheet, served at `GET /dashboard.css` (why a string module: page-html.ts). */
export const DASHBOARD_CSS = `
:root {
  --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #6b7385; --line: #e2e5eb;
  --ok: #1f8a4c; --bad: #c62f2f; --warn: #b7791f; --accent: #2b6cb0; --fill: rgba(43, 108, 176, 0.12);
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-variant-numeric: tabular-nums;
}
header {
  display: flex; align-items: center; gap: 12px; padding: 10px 20px;
  background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 1;
}
h1 { font-size: 18px; margin: 0; letter-spacing: 0.02em; }
h2 { font-size: 15px; margin: 22px 0 10px; }
h3 { font-size: 14px; margin: 0; font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
main { padding: 8px 20px 40px; max-width: 1400px; margin: 0 auto; }
.grow { flex: 1; }
.muted { color: var(--muted); font-weight: normal; }
.pill { padding: 2px 10px; border-radius: 999px; font-size: 12px; background: var(--line); }
.pill.ok { background: #dcf3e5; color: var(--ok); }
.pill.bad { background: #fbe1e1; color: var(--bad); }
.pill.warn { background: #fbf0d9; color: var(--warn); }
.banner { background: #fbe1e1; color: var(--bad); padding: 8px 20px; border-bottom: 1px solid #f1c4c4; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; margin-top: 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
.card .value { font-size: 22px; margin: 2px 0; }
.card .sub { color: var(--muted); font-size: 12px; }
.bar { height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; margin-top: 6px; }
.bar > div { height: 100%; background: var(--accent); }
.bar.bad > div { background: var(--bad); }
.drops { margin: 4px 0 0; padding: 0; list-style: none; font-size: 12px; }
.drops li { display: flex; justify-content: space-between; }
.service { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 14px; }
.service-head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 18px; padding: 10px 14px; border-bottom: 1px solid var(--line); }
.service-head .figure b { font-size: 16px; }
.sparks { display: flex; flex-wrap: wrap; gap: 18px; padding: 10px 14px 4px; }
.spark { display: flex; flex-direction: column; }
.spark .label { color: var(--muted); font-size: 12px; }
.spark .now { font-size: 13px; }
.spark svg { display: block; margin-top: 2px; }
.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
.spark path { fill: var(--fill); stroke: none; }
.spark rect { fill: #f1f3f6; rx: 3px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 5px 14px; border-top: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: normal; font-size: 12px; }
td.num, th.num { text-align: right; }
td.target { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
td.why { white-space: normal; color: var(--muted); font-size: 12px; max-width: 420px; }
.more { padding: 6px 14px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); }
.events { list-style: none; margin: 0; padding: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; max-height: 360px; overflow-y: auto; }
.events li { display: flex; gap: 12px; padding: 5px 14px; border-top: 1px solid var(--line); }
.events li:first-child { border-top: none; }
.events time { color: var(--muted); min-width: 150px; }
.events .kind { min-width: 110px; }
`;
