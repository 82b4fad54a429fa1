/**
 * The dashboard's HTML, served at `GET /`. The page's three files are TypeScript modules exporting
 * strings, not .html/.css/.js files read at run time: tsc copies no other file into dist, and the
 * npm package ships dist/src but not src, so a file read from the source tree would be missing
 * where the daemon is installed. As modules they travel with the code that serves them.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tslvs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="dashboard.css">
<script src="dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>tslvs</h1>
  <span id="host" class="muted"></span>
  <span id="status" class="pill">connecting</span>
  <span class="grow"></span>
  <span id="updated" class="muted"></span>
</header>
<div id="banner" class="banner" hidden></div>
<main>
  <section id="summary" class="cards" aria-label="director"></section>
  <section>
    <h2>Services <span id="svc-count" class="muted"></span></h2>
    <div id="services"><p class="muted">waiting for the first reading</p></div>
  </section>
  <section>
    <h2>Recent events</h2>
    <ol id="events" class="events"></ol>
  </section>
</main>
</body>
</html>
`;
