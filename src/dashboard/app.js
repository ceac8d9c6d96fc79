// The fleet dashboard: the API's own typed operations (schema/operations/dashboard.graphql and
// fleet-actions.graphql, handed over by the server), over fetch for queries and mutations and
// graphql-ws for live changes (graphql-sse when WebSocket is unavailable). No framework and no
// build: the DOM is updated row by row as events arrive.
const settings = JSON.parse(document.getElementById("settings").textContent);
const ops = settings.operations;
const $ = (id) => document.getElementById(id);

// ---- Authentication: the development token, a Supabase session, or a pasted token.
let token = settings.token ?? sessionStorage.getItem("mcp-fleet-token");
let supabase;

function authHeaders() {
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function setUpSupabase() {
  if (!settings.supabase) return;
  await loadScript("/dashboard/supabase.js");
  supabase = window.supabase.createClient(settings.supabase.url, settings.supabase.anonKey);
  // supabase-js refreshes the session itself; each new access token is used from then on. The
  // live connection keeps going: the server ends it when the old token expires, and it comes back
  // with the new one and the cursor of the last change it saw.
  supabase.auth.onAuthStateChange((_event, session) => {
    if (session?.access_token) token = session.access_token;
  });
  const { data } = await supabase.auth.getSession();
  if (data.session) token = data.session.access_token;
  $("supabase-sign-in").hidden = false;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = reject;
    document.head.append(script);
  });
}

function showSignIn(message) {
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message ?? "";
  $("fleet").replaceChildren();
}

$("token-sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  token = new FormData(event.target).get("token").trim();
  sessionStorage.setItem("mcp-fleet-token", token);
  start();
});

$("supabase-sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const { data, error } = await supabase.auth.signInWithPassword({ email: form.get("email"), password: form.get("password") });
  if (error) return void ($("sign-in-error").textContent = error.message);
  token = data.session.access_token;
  start();
});

$("sign-out").addEventListener("click", async () => {
  sessionStorage.removeItem("mcp-fleet-token");
  await supabase?.auth.signOut();
  token = null;
  location.reload();
});

// ---- GraphQL over HTTP.
async function gql(name, variables) {
  let res;
  try {
    res = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...authHeaders() },
      body: JSON.stringify({ query: ops[name], operationName: name, variables }),
    });
  } catch (error) {
    return { errors: [{ message: `The API cannot be reached (${error.message})`, extensions: { code: "UPSTREAM_UNAVAILABLE" } }] };
  }
  const body = await res.json().catch(() => ({ errors: [{ message: `HTTP ${res.status}` }] }));
  if (res.status === 401) showSignIn(body.errors?.[0]?.message);
  return body;
}

const describeError = (error) => `${error.extensions?.code ?? "ERROR"}: ${error.message}`;

// ---- The fleet, as the page knows it.
const environments = new Map(); // id -> { env, section, tbody }
const serverRows = new Map(); // id -> tr

function formatAge(seconds) {
  if (seconds == null) return "never";
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function formatUptime(seconds) {
  if (seconds == null) return "";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

/** An element showing how long ago `at` (ms) was, kept current by the ticker below. */
function ago(at) {
  const el = document.createElement("span");
  el.className = "ago";
  if (at == null) el.textContent = "never";
  else {
    el.dataset.at = String(at);
    el.textContent = formatAge(Math.max(0, Math.round((Date.now() - at) / 1000)));
  }
  return el;
}
setInterval(() => {
  for (const el of document.querySelectorAll(".ago[data-at]")) el.textContent = formatAge(Math.max(0, Math.round((Date.now() - Number(el.dataset.at)) / 1000)));
}, 1000);

function text(tag, content, className) {
  const el = document.createElement(tag);
  el.textContent = content ?? "";
  if (className) el.className = className;
  return el;
}

function renderSummary(summary) {
  const parts = [text("span", `${summary.servers} servers on ${summary.environments} droplets`, "count")];
  for (const { health, count } of summary.byHealth) if (count) parts.push(countEl(health, count));
  for (const { state, count } of summary.byState) if (count && state !== "RUNNING") parts.push(countEl(state, count));
  $("summary").replaceChildren(...parts);
}

function countEl(name, count) {
  const el = text("span", "", `count ${name}`);
  el.append(text("b", String(count)), ` ${name.toLowerCase()}`);
  el.dataset.name = name;
  return el;
}

function environmentSection(env) {
  let known = environments.get(env.id);
  if (!known) {
    const section = document.createElement("section");
    section.className = "droplet";
    section.dataset.id = env.id;
    const table = document.createElement("table");
    const head = document.createElement("thead");
    const headRow = document.createElement("tr");
    for (const h of ["Server", "State", "Health", "Heartbeat", "Uptime", "Endpoint", "Last test", ""]) headRow.append(text("th", h));
    head.append(headRow);
    const tbody = document.createElement("tbody");
    table.append(head, tbody);
    section.append(document.createElement("h2"), table);
    $("fleet").append(section);
    known = { env, section, tbody };
    environments.set(env.id, known);
  }
  known.env = env;
  const metrics = env.systemMetrics;
  const percent = (v) => (v == null ? "–" : `${Math.round(v)}%`);
  const title = known.section.querySelector("h2");
  const meta = text("span", "", "meta");
  meta.append(`${env.region} · heartbeat `, ago(env.lastHeartbeatAt ? Date.parse(env.lastHeartbeatAt) : null));
  if (metrics)
    meta.append(` · CPU ${percent(metrics.cpuLoadPercent)} · memory ${percent(metrics.memory?.usedPercent)} · disk ${percent(metrics.disk?.usedPercent)}`);
  title.replaceChildren(text("span", env.name ?? env.id), text("span", env.status, `status ${env.status}`), meta);
  return known;
}

function renderServer(server, flash) {
  const known = environments.get(server.environment.id);
  if (!known) return; // its droplet arrives with its own event
  let row = serverRows.get(server.id);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.id = server.id;
    serverRows.set(server.id, row);
    known.tbody.append(row);
    row.append(...Array.from({ length: 8 }, () => document.createElement("td")));
    row.cells[7].className = "actions";
    row.cells[7].append(
      ...[
        ["Test", test],
        ["Start", (s, b) => lifecycle("StartServer", "startServer", s, b)],
        ["Stop", (s, b) => lifecycle("StopServer", "stopServer", s, b)],
        ["Restart", (s, b) => lifecycle("RestartServer", "restartServer", s, b)],
        ["Refresh", (s, b) => lifecycle("RefreshServerStatus", "refreshServerStatus", s, b)],
        ["Logs", logs],
      ].map(([label, act]) => {
        const button = text("button", label);
        button.dataset.action = label.toLowerCase();
        button.addEventListener("click", () => act(row.server, button));
        return button;
      }),
    );
    // The last test as the server reports it, and under it the outcome of this page's own action.
    row.cells[6].className = "outcome";
    row.cells[6].append(text("span", "", "last"), text("div", "", "action"));
    row.cells[5].className = "endpoint";
  } else if (known.tbody !== row.parentElement) known.tbody.append(row);
  row.server = server;
  const { status } = server;
  row.cells[0].textContent = server.name ?? server.id;
  row.cells[1].replaceChildren(text("span", status.state, status.state));
  row.cells[2].replaceChildren(text("span", status.health, status.health), ...axisBadges(status));
  row.cells[2].title = status.lastError ?? "";
  row.cells[3].replaceChildren(ago(status.heartbeatAge == null ? null : Date.now() - status.heartbeatAge * 1000));
  row.cells[4].textContent = formatUptime(status.uptime);
  row.cells[5].textContent = server.endpoint ?? "–";
  row.cells[6].querySelector(".last").replaceChildren(lastTest(server.lastConnectionTest));
  if (flash) {
    row.classList.remove("flash");
    void row.offsetWidth;
    row.classList.add("flash");
  }
}

/** What the reachability and recovery axes add to a server's health, when there is something to say. */
function axisBadges(status) {
  const badges = [];
  if (status.reachability === "SLOW") badges.push(text("span", "slow", "axis warn"));
  if (status.reachability === "UNREACHABLE") badges.push(text("span", "unreachable", "axis bad"));
  if (status.recovery === "RECOVERING") badges.push(text("span", "recovering", "axis warn"));
  if (status.recovery === "BLOCKED") badges.push(text("span", "recovery blocked", "axis bad"));
  if (status.recovery === "GAVE_UP") badges.push(text("span", "recovery gave up", "axis bad"));
  return badges;
}

function lastTest(test) {
  if (!test) return text("span", "not tested", "muted");
  return text("span", test.success ? `✓ ${test.latency} ms` : `✗ ${test.errorKind ?? "failed"}`, test.success ? "ok" : "bad");
}

function removeServer(id) {
  serverRows.get(id)?.remove();
  serverRows.delete(id);
}

function removeEnvironment(id) {
  const known = environments.get(id);
  if (!known) return;
  for (const row of known.tbody.querySelectorAll("tr")) serverRows.delete(row.dataset.id);
  known.section.remove();
  environments.delete(id);
}

// ---- Actions next to each server: progress, then the outcome or the coded error.
async function run(row, button, work) {
  const cell = row.cells[6].querySelector(".action");
  for (const b of row.cells[7].querySelectorAll("button")) b.disabled = true;
  cell.replaceChildren(text("span", `${button.textContent}…`, "muted"));
  try {
    cell.replaceChildren(await work());
  } catch (error) {
    cell.replaceChildren(text("span", `ERROR: ${error.message}`, "error"));
  } finally {
    for (const b of row.cells[7].querySelectorAll("button")) b.disabled = false;
  }
}

function test(server, button) {
  const row = serverRows.get(server.id);
  return run(row, button, async () => {
    const { data, errors } = await gql("TestServerConnection", { id: server.id });
    if (errors) return text("span", describeError(errors[0]), "error");
    const result = data.testServerConnection;
    const outcome = text("div", "", "tested");
    outcome.append(
      text("span", result.success ? `✓ ${result.latency} ms` : `✗ ${result.errorKind ?? "failed"}: ${result.error ?? ""}`, result.success ? "ok" : "bad"),
    );
    const phases = document.createElement("ol");
    for (const phase of result.phases) phases.append(text("li", `${phase.name} ${phase.durationMs} ms${phase.ok ? "" : " ✗"}`, phase.ok ? "" : "bad"));
    outcome.append(phases);
    return outcome;
  });
}

function lifecycle(operation, field, server, button) {
  const row = serverRows.get(server.id);
  return run(row, button, async () => {
    const { data, errors } = await gql(operation, { id: server.id });
    if (errors) return text("span", describeError(errors[0]), "error");
    const updated = data[field];
    return text("span", `${button.textContent} done${updated?.status ? `: ${updated.status.state}` : ""}`, "ok");
  });
}

async function logs(server) {
  $("logs-title").textContent = `Logs: ${server.name ?? server.id}`;
  $("logs-lines").textContent = "Loading…";
  $("logs").showModal();
  const { data, errors } = await gql("ServerLogs", { id: server.id, tail: 200 });
  $("logs-lines").textContent = errors ? describeError(errors[0]) : data.server.logs.lines.join("\n") || "(no lines)";
}

// ---- Live: changes since the cursor taken before the first load, over WebSocket (SSE fallback).
let live;
let transport;

function banner(message, back) {
  const el = $("banner");
  el.hidden = !message;
  el.textContent = message ?? "";
  el.classList.toggle("back", Boolean(back));
}

function connectLive(cursor) {
  const serverVars = { after: cursor };
  const environmentVars = { after: cursor };
  let lost = false;
  const onLost = () => {
    if (lost) return;
    lost = true;
    banner("Live connection lost: reconnecting. Nothing will be missed: changes made meanwhile are replayed.");
  };
  const onBack = () => {
    if (!lost) return;
    lost = false;
    banner("Live again: caught up.", true);
    setTimeout(() => !lost && banner(null), 3000);
  };
  const useSse = new URLSearchParams(location.search).get("transport") === "sse" || !window.WebSocket;
  let client;
  const stops = [];
  // WebSocket first; if it never connects (a proxy that refuses upgrades), SSE from the same cursors.
  let everConnected = false;
  let failures = 0;
  const toSse = () => {
    for (const stop of stops.splice(0)) stop();
    disposeClient(client);
    transport = "sse";
    client = sseClient(onLost, onBack);
    subscribeAll();
  };
  if (useSse) client = sseClient(onLost, onBack);
  else
    client = wsClient(
      () => {
        onLost();
        if (!everConnected && ++failures === 3) setTimeout(toSse);
      },
      () => {
        everConnected = true;
        onBack();
      },
    );
  transport = useSse ? "sse" : "websocket";
  const subscribe = (name, variables, onData) => {
    let stop;
    let cancelled = false;
    const go = () => {
      if (cancelled) return;
      stop = client.subscribe(
        { query: ops[name], operationName: name, variables },
        {
          next: ({ data, errors }) => {
            if (errors) return void banner(`Live updates failed: ${describeError(errors[0])}`);
            onBack();
            if (data) onData(data);
          },
          // The server ended the stream (a token expired, a restart): back with the last cursor.
          error: () => {
            onLost();
            setTimeout(go, 1000);
          },
          complete: () => setTimeout(go, 200),
        },
      );
    };
    go();
    stops.push(() => {
      cancelled = true;
      stop?.();
    });
  };
  const subscribeAll = () => {
    subscribe("DashboardEnvironmentChanges", environmentVars, ({ environmentChanged: e }) => {
      environmentVars.after = e.cursor;
      if (e.kind === "REMOVED" || !e.environment) removeEnvironment(e.environmentId);
      else environmentSection(e.environment);
    });
    subscribe("DashboardServerChanges", serverVars, ({ serverChanged: e }) => {
      serverVars.after = e.cursor;
      if (e.kind === "REMOVED" || !e.server) removeServer(e.serverId);
      else renderServer(e.server, true);
    });
    subscribe("DashboardSummary", {}, ({ fleetSummaryChanged }) => renderSummary(fleetSummaryChanged));
  };
  subscribeAll();
  return { dispose: () => disposeClient(client), terminate: () => client.terminate?.(), transport: () => transport };
}

// graphql-ws's dispose() waits for a connection attempt in progress and rejects when that attempt
// fails, which is no news for a client being given up; graphql-sse's returns nothing.
const disposeClient = (client) => Promise.resolve(client.dispose()).catch(() => undefined);

function wsClient(onLost, onBack) {
  return window.graphqlWs.createClient({
    url: `${location.origin.replace(/^http/, "ws")}/graphql`,
    // Called at every (re)connection: a refreshed token is sent when the connection comes back.
    connectionParams: () => authHeaders(),
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** retries))),
    on: { connected: onBack, closed: onLost },
  });
}

function sseClient(onLost, onBack) {
  return window.graphqlSse.createClient({
    url: "/graphql",
    headers: () => authHeaders(),
    retryAttempts: Number.POSITIVE_INFINITY,
    on: { connected: onBack },
    retry: async (retries) => {
      onLost();
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** retries)));
    },
  });
}

// ---- Start: the cursor first, then the fleet, then live changes from that cursor on.
async function start() {
  $("sign-in").hidden = true;
  $("sign-out").hidden = !token || Boolean(settings.token);
  const cursor = await gql("DashboardCursor");
  if (cursor.errors) {
    if (cursor.errors[0].extensions?.code !== "UNAUTHENTICATED") $("fleet").replaceChildren(text("p", describeError(cursor.errors[0]), "error"));
    return;
  }
  const { data, errors } = await gql("DashboardFleet");
  if (errors) return void $("fleet").replaceChildren(text("p", describeError(errors[0]), "error"));
  $("fleet").replaceChildren();
  environments.clear();
  serverRows.clear();
  renderSummary(data.fleetSummary);
  for (const { node } of data.environments.edges) {
    environmentSection(node);
    for (const { node: server } of node.servers.edges) renderServer(server, false);
  }
  if (!data.environments.edges.length) $("fleet").append(text("p", "No droplets yet.", "muted"));
  performance.mark("fleet-rendered");
  live?.dispose();
  live = connectLive(cursor.data.changeCursor);
}

// For a person (or a test) at the console: the live client, e.g. mcpFleet.live().terminate().
window.mcpFleet = { live: () => live };

await setUpSupabase();
start();
