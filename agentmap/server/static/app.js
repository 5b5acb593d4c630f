// The AgentMap run viewer: plain JS over the /v1 API, no build step.
// Lists graphs and runs, draws the selected graph with Mermaid, follows a run's
// events (SSE) to colour its nodes, shows its steps, and answers a suspended run.
"use strict";

const KEY_STORE = "agentmap.apiKey";
// Node colours, appended to the graph's Mermaid source: finished OK, failed, in progress.
const CLASS_DEFS = [
  "classDef ok fill:#bfb,stroke:#393",
  "classDef failed fill:#fbb,stroke:#c33",
  "classDef running fill:#ffb,stroke:#cc3",
  "classDef waiting fill:#ffb,stroke:#cc3,stroke-dasharray:4 3",
];

const view = {
  graph: null, // GET /v1/graphs/{name}
  ids: {}, // node name -> Mermaid node id
  runId: null,
  run: null, // GET /v1/runs/{id}
  live: {}, // node name -> status, from this run's events (wins over the steps)
  source: null, // EventSource of the selected run
  lastEventId: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function say(text, error = false) {
  const box = $("message");
  box.textContent = text;
  box.className = error ? "error" : "";
  box.hidden = !text;
}

// -- API ---------------------------------------------------------------------------

function apiKey() {
  return localStorage.getItem(KEY_STORE) || "";
}

class ApiError extends Error {}

// A problem+json body as one sentence: title, detail and the fields it names.
function problemText(status, body) {
  if (!body || typeof body !== "object") return `HTTP ${status}`;
  let text = [body.title, body.detail].filter(Boolean).join(": ") || `HTTP ${status}`;
  for (const e of body.errors || []) text += `; ${e.field}: ${e.message}`;
  return text;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (apiKey()) headers.Authorization = `Bearer ${apiKey()}`;
  const response = await fetch(path, { ...options, headers });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(problemText(response.status, body));
  return body;
}

// Runs an async UI action and shows its failure instead of losing it in the console.
function guarded(action) {
  return async (...args) => {
    try {
      await action(...args);
    } catch (error) {
      say(error.message, true);
    }
  };
}

// -- graphs ------------------------------------------------------------------------

async function loadGraphs() {
  const { graphs } = await api("/v1/graphs");
  const list = $("graphs");
  list.replaceChildren();
  for (const g of graphs) {
    const button = el("button", { type: "button", "data-graph": g.name, title: g.description || g.file },
      g.name, el("small", { text: ` ${g.nodes} nodes` }));
    button.addEventListener("click", guarded(() => selectGraph(g.name)));
    list.append(el("li", {}, button));
  }
  if (!graphs.length) list.append(el("li", { text: "no workflows loaded" }));
}

// The Mermaid id of each node: the server's mermaid_ids (to_mermaid numbers nodes n0, n1,
// ... in CSV order, as names may hold anything), else that numbering over `nodes`.
function mermaidIds(graph) {
  return graph.mermaid_ids || Object.fromEntries(graph.nodes.map((n, i) => [n.name, `n${i}`]));
}

async function selectGraph(name, keepRun = false) {
  if (!keepRun) stopRun();
  if (view.graph?.name !== name) {
    view.graph = await api(`/v1/graphs/${encodeURIComponent(name)}`);
    view.ids = mermaidIds(view.graph);
    $("graph-name").textContent = name;
    $("graph-file").textContent = view.graph.file || "";
    const state = Object.fromEntries((view.graph.inputs || []).map((f) => [f, ""]));
    $("state").value = JSON.stringify(state, null, 2);
    const required = view.graph.required || [];
    $("inputs-hint").textContent = required.length ? `Required: ${required.join(", ")}` : "";
  }
  for (const b of document.querySelectorAll("#graphs button")) {
    b.classList.toggle("selected", b.dataset.graph === name);
  }
  $("graph-panel").hidden = false;
  if (!keepRun) location.hash = `graph=${encodeURIComponent(name)}`;
  await draw();
}

// -- the diagram -------------------------------------------------------------------

// The status of each node: live events first, then the stored steps and the waiting node.
function nodeStatus() {
  const status = {};
  for (const step of view.run?.steps || []) status[step.node] = step.ok ? "ok" : "failed";
  if (view.run?.status === "suspended" && view.run.waiting) status[view.run.waiting.node] = "waiting";
  return Object.assign(status, view.live);
}

let drawing = null; // the render under way
let redraw = false; // another render was asked for meanwhile
let renders = 0;

async function draw() {
  if (drawing) {
    redraw = true;
    return drawing;
  }
  drawing = (async () => {
    do {
      redraw = false;
      await render();
    } while (redraw);
  })();
  try {
    await drawing;
  } finally {
    drawing = null;
  }
}

async function render() {
  const graph = view.graph;
  if (!graph) return;
  const status = view.run?.graph === graph.name ? nodeStatus() : {};
  const lines = [graph.mermaid.trimEnd(), ...CLASS_DEFS.map((d) => `    ${d}`)];
  for (const [name, s] of Object.entries(status)) {
    if (view.ids[name]) lines.push(`    class ${view.ids[name]} ${s}`);
  }
  const { svg } = await mermaid.render(`graph-svg-${++renders}`, lines.join("\n"));
  const box = $("diagram");
  box.innerHTML = svg; // Mermaid's output, sanitised by it (securityLevel strict)
  // data-node / data-status on each node's <g>, so that tests and styles need no Mermaid ids.
  for (const [name, id] of Object.entries(view.ids)) {
    const pattern = new RegExp(`(^|-)flowchart-${id}-\\d+$`);
    const g = [...box.querySelectorAll("g.node")].find((n) => pattern.test(n.id));
    if (!g) continue;
    g.dataset.node = name;
    g.dataset.status = status[name] || "";
  }
  box.dataset.status = view.run?.status || "";
}

// -- runs --------------------------------------------------------------------------

// A time as the API gives it (epoch seconds, or an ISO string): the time today, else the date too.
function clock(time) {
  if (time == null) return "";
  const date = new Date(typeof time === "number" ? time * 1000 : time);
  const today = date.toDateString() === new Date().toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

async function loadRuns() {
  const { runs } = await api("/v1/runs?limit=30");
  const list = $("runs");
  list.replaceChildren();
  for (const r of runs) {
    const when = clock(r.created_at);
    const button = el("button", { type: "button", "data-run": r.run_id, "data-status": r.status, title: r.run_id },
      `${r.graph} `, el("span", { class: `status ${r.status}`, text: r.status }), el("small", { text: ` ${when}` }));
    button.classList.toggle("selected", r.run_id === view.runId);
    button.addEventListener("click", guarded(() => selectRun(r.run_id)));
    list.append(el("li", {}, button));
  }
  if (!runs.length) list.append(el("li", { text: "no runs yet" }));
}

function stopRun() {
  if (view.source) view.source.close();
  Object.assign(view, { runId: null, run: null, live: {}, source: null, lastEventId: 0 });
  $("run-panel").hidden = true;
}

async function selectRun(runId) {
  stopRun();
  view.runId = runId;
  $("events").replaceChildren();
  location.hash = `run=${encodeURIComponent(runId)}`;
  await refreshRun();
  if (view.run) await selectGraph(view.run.graph, true);
  follow();
  await loadRuns();
}

let refreshing = null;
let refreshAgain = false;

// Reloads the selected run (status, steps, state); calls made meanwhile fold into one more.
async function refreshRun() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      const runId = view.runId;
      if (!runId) return;
      const run = await api(`/v1/runs/${encodeURIComponent(runId)}`);
      if (runId !== view.runId) return;
      view.run = run;
      showRun(run);
      await draw();
    } while (refreshAgain);
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
  }
}

const show = (value) => (value === undefined ? "" : JSON.stringify(value, null, 2));

// A step's fields, one "name: value" line each (denser than indented JSON in a table cell).
function fields(value) {
  if (!value || typeof value !== "object" || Array.isArray(value)) return show(value);
  return Object.entries(value).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n");
}

function duration(seconds) {
  if (seconds == null) return "";
  return seconds < 1 ? `${Number((seconds * 1000).toPrecision(2))} ms` : `${seconds.toFixed(2)} s`;
}

function showRun(run) {
  $("run-panel").hidden = false;
  $("run-id").textContent = run.run_id;
  const status = $("run-status");
  status.textContent = run.status;
  status.className = `status ${run.status}`;
  status.dataset.status = run.status;
  const error = $("run-error");
  error.textContent = run.error ? `${run.failed_node ? run.failed_node + ": " : ""}${run.error}` : "";
  error.hidden = !run.error;
  $("run-state").textContent = show(run.state);
  const body = $("steps").tBodies[0];
  body.replaceChildren();
  for (const s of run.steps || []) {
    const result = s.error ? el("pre", { class: "error", text: s.error }) : el("pre", { text: fields(s.outputs) });
    body.append(el("tr", { "data-node": s.node, "data-step": s.step, "data-ok": String(s.ok) },
      el("td", { text: s.step }), el("td", { text: s.node + (s.visit > 1 ? ` (${s.visit})` : "") }),
      el("td", { class: s.ok ? "ok" : "failed", text: s.ok ? "✓" : "✗" }),
      el("td", { class: "time", text: duration(s.duration) }),
      el("td", {}, el("pre", { text: fields(s.inputs) })), el("td", {}, result)));
  }
  showQuestion(run);
}

function showQuestion(run) {
  const form = $("resume-form");
  const waiting = run.status === "suspended" ? run.waiting : null;
  form.hidden = !waiting;
  if (!waiting || form.dataset.node === waiting.node) return; // keep what the user typed
  form.dataset.node = waiting.node;
  $("question").textContent = `${waiting.node} asks: ${waiting.question}`;
  $("resume-fields").replaceChildren(...waiting.fields.map((field) => el("label", {}, `${field} `,
    el("input", { id: `field-${field}`, name: field, "data-field": field, required: "" }))));
}

// -- live events -------------------------------------------------------------------

const LIVE = {
  node_started: () => "running",
  node_retried: () => "running",
  node_finished: (d) => (d.success === false ? "failed" : "ok"),
  node_failed: () => "failed",
  run_suspended: () => "waiting",
};

// Follows the selected run's events from the last one seen. EventSource cannot send an
// Authorization header, so the key goes as ?api_key=.
function follow() {
  if (view.source) view.source.close();
  const params = new URLSearchParams();
  if (view.lastEventId) params.set("last_event_id", view.lastEventId);
  if (apiKey()) params.set("api_key", apiKey());
  const query = params.toString() ? `?${params}` : "";
  const runId = view.runId;
  const source = new EventSource(`/v1/runs/${encodeURIComponent(runId)}/events${query}`);
  view.source = source;
  const onEvent = (message) => {
    if (view.source !== source) return;
    const data = JSON.parse(message.data);
    view.lastEventId = Number(message.lastEventId) || view.lastEventId;
    const list = $("events");
    list.append(el("li", { "data-event": message.type,
      text: `${message.type} ${data.node || data.status || ""} ${data.run_id !== runId ? `(${data.run_id})` : ""}` }));
    if (list.children.length > 500) list.firstElementChild.remove(); // a long run: the latest
    if (data.run_id !== runId) return; // a sub-run's node: not in this graph
    if (message.type in LIVE && data.node) {
      view.live[data.node] = LIVE[message.type](data);
      guarded(draw)();
    }
    if (message.type === "run_finished") source.close(); // the server ends the stream here
    if (message.type !== "node_started" && message.type !== "llm_called") {
      guarded(refreshRun)();
      if (message.type === "run_finished") guarded(loadRuns)();
    }
  };
  for (const kind of ["run_started", "route", "llm_called", "run_finished", ...Object.keys(LIVE)]) {
    source.addEventListener(kind, onEvent);
  }
  source.onerror = () => {
    // The stream ended without run_finished, or the connection dropped: stop retrying
    // once the run is no longer running (resuming it follows the events again).
    guarded(async () => {
      await refreshRun();
      if (view.source === source && view.run?.status !== "running") source.close();
    })();
  };
}

// -- forms -------------------------------------------------------------------------

async function startRun(event) {
  event.preventDefault();
  let state;
  try {
    state = JSON.parse($("state").value || "{}");
  } catch (error) {
    throw new ApiError(`The state is not JSON: ${error.message}`);
  }
  if (!state || typeof state !== "object" || Array.isArray(state)) {
    throw new ApiError("The state must be a JSON object");
  }
  const started = await api("/v1/runs", {
    method: "POST",
    body: JSON.stringify({ graph: view.graph.name, state, wait: false }),
  });
  say(`Started run ${started.run_id}`);
  await selectRun(started.run_id);
}

async function resumeRun(event) {
  event.preventDefault();
  const values = {};
  for (const input of $("resume-fields").querySelectorAll("input")) values[input.name] = input.value;
  await api(`/v1/runs/${encodeURIComponent(view.runId)}/resume`, {
    method: "POST",
    body: JSON.stringify({ values, wait: false }),
  });
  const form = $("resume-form");
  form.hidden = true;
  delete form.dataset.node;
  say(`Resumed run ${view.runId}`);
  follow();
}

function saveKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (key) localStorage.setItem(KEY_STORE, key);
  else localStorage.removeItem(KEY_STORE);
  say(key ? "API key saved in this browser" : "API key removed");
  guarded(start)();
}

async function start() {
  await loadGraphs();
  await loadRuns();
  const [kind, value] = location.hash.slice(1).split("=");
  if (kind === "run" && value) await selectRun(decodeURIComponent(value));
  else if (kind === "graph" && value) await selectGraph(decodeURIComponent(value));
}

mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });
$("api-key").value = apiKey();
$("key-form").addEventListener("submit", saveKey);
$("start-form").addEventListener("submit", guarded(startRun));
$("resume-form").addEventListener("submit", guarded(resumeRun));
$("refresh-runs").addEventListener("click", guarded(loadRuns));
guarded(start)();
setInterval(() => {
  if (!document.hidden) loadRuns().catch(() => {});
}, 5000);
