// The centre's dashboard: log in, watch junctions live, edit and approve plans.
// Plain browser JavaScript, no build step; live updates come as server-sent events.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { G: "#1f9d55", y: "#f2c12e", r: "#d64545" };
const TURN_LETTER = { left: "L", through: "T", right: "R", uturn: "U", other: "?" };
// Metres of queue per schematic unit; the roads drawn are 110 units long.
const QUEUE_SCALE = 1.0;

const view = { user: null, junctions: [], selected: null, stream: null, states: {} };

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  const text = await response.text();
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  return { ok: response.ok, status: response.status, data };
}

function may(permission) {
  return view.user && view.user.permissions.includes(permission);
}

function el(tag, attributes = {}, text) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function problemText(result) {
  const detail = result.data && result.data.detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  return typeof detail === "string" ? detail : `HTTP ${result.status}`;
}

// Session -------------------------------------------------------------------------------

async function logIn(event) {
  event.preventDefault();
  const token = document.getElementById("token").value.trim();
  const result = await api("POST", "/api/session", { token });
  if (!result.ok) {
    document.getElementById("login-error").textContent = t("bad_token");
    return;
  }
  document.getElementById("token").value = "";
  await begin(result.data);
}

async function logOut() {
  await api("DELETE", "/api/session");
  if (view.stream) view.stream.close();
  location.reload();
}

async function begin(user) {
  view.user = user;
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = `${user.name} (${user.role})`;
  document.getElementById("editor-card").hidden = !may("propose_plan") && !may("approve_plan");
  document.getElementById("incident-card").hidden = !may("read_incidents");
  const result = await api("GET", "/api/junctions");
  view.junctions = result.data || [];
  drawMap();
  if (view.junctions.length) await select(view.junctions[0].id);
  connect();
  if (may("read_incidents")) loadIncidents();
  setInterval(loadChart, 5000);
}

// Live stream ---------------------------------------------------------------------------

function connect() {
  const status = document.getElementById("live-status");
  const stream = new EventSource("/api/stream");
  view.stream = stream;
  stream.onopen = () => { status.className = "dot on"; };
  stream.onerror = () => { status.className = "dot off"; };
  stream.addEventListener("state", (message) => onState(JSON.parse(message.data)));
  stream.addEventListener("change", () => { loadPlans(); });
  stream.addEventListener("applied", () => { loadPlans(); });
  stream.addEventListener("incident", () => { if (may("read_incidents")) loadIncidents(); });
}

function onState(state) {
  view.states[state.junction_id] = state;
  window.lastStateReceived = { at: Date.now() / 1000, published: state.published_unix };
  paintMarker(state.junction_id);
  if (state.junction_id === view.selected) showState(state);
}

// Map and schematic ------------------------------------------------------------------------

// Each scenario's network gets a cell of the map; inside it, its junctions keep their
// relative positions from the network. Networks have no common geographic frame.
const CELL_W = 140, CELL_H = 110;

function mapPositions() {
  const scenarios = [...new Set(view.junctions.map((j) => j.scenario))];
  const columns = 2;
  const positions = {};
  scenarios.forEach((scenario, k) => {
    const members = view.junctions.filter((j) => j.scenario === scenario);
    const xs = members.map((j) => j.x), ys = members.map((j) => j.y);
    const spanX = Math.max(1, Math.max(...xs) - Math.min(...xs));
    const spanY = Math.max(1, Math.max(...ys) - Math.min(...ys));
    const scale = Math.min(90 / spanX, 50 / spanY);
    // A lone network sits in the middle of the map rather than in its left half.
    const cx = scenarios.length === 1 ? CELL_W : (k % columns) * CELL_W + CELL_W / 2;
    const cy = Math.floor(k / columns) * CELL_H + 50;
    const midX = (Math.max(...xs) + Math.min(...xs)) / 2;
    const midY = (Math.max(...ys) + Math.min(...ys)) / 2;
    for (const j of members) {
      positions[j.id] = { x: cx + (j.x - midX) * scale, y: cy - (j.y - midY) * scale };
    }
    positions[`label:${scenario}`] = { x: cx, y: cy + 50 };
  });
  return { positions, scenarios, rows: Math.ceil(scenarios.length / columns), columns };
}

function drawMap() {
  const map = document.getElementById("map");
  map.replaceChildren();
  const { positions, scenarios, rows, columns } = mapPositions();
  map.setAttribute("viewBox", `0 0 ${columns * CELL_W} ${Math.max(1, rows) * CELL_H}`);
  for (const scenario of scenarios) {
    const at = positions[`label:${scenario}`];
    map.append(el("svg:text", { x: at.x, y: at.y, "text-anchor": "middle",
                                class: "scenario" }, scenario));
  }
  view.junctions.forEach((junction, i) => {
    const { x, y } = positions[junction.id];
    const group = el("svg:g", { class: "marker", "data-testid": `marker-${junction.id}`,
                                tabindex: "0" });
    for (const approach of junction.approaches) {
      group.append(el("svg:line", { x1: x, y1: y, x2: x + approach.dx * 13,
                                    y2: y - approach.dy * 13, class: "road-mini" }));
    }
    group.append(el("svg:circle", { cx: x, cy: y, r: 7, id: `dot-${junction.id}` }));
    // Neighbours on a corridor alternate their labels above and below.
    group.append(el("svg:text", { x, y: i % 2 ? y + 21 : y - 11, "text-anchor": "middle" },
                    junction.id));
    group.addEventListener("click", () => select(junction.id));
    map.append(group);
    paintMarker(junction.id);
  });
}

// The map is built once; live states only recolour its dots (worst queue: green below
// 25 m, yellow to 60 m, red beyond).
function paintMarker(junctionId) {
  const dot = document.getElementById(`dot-${junctionId}`);
  if (!dot) return;
  const state = view.states[junctionId];
  const worst = state ? Math.max(0, ...Object.values(state.queues_m || {})) : 0;
  const fill = worst > 60 ? COLOURS.r : worst > 25 ? COLOURS.y : COLOURS.G;
  dot.setAttribute("fill", state ? fill : "#888");
  dot.setAttribute("class", junctionId === view.selected ? "chosen" : "");
}

function drawSchematic(junction, state) {
  const svg = document.getElementById("schematic");
  svg.replaceChildren();
  svg.append(el("svg:rect", { x: -22, y: -22, width: 44, height: 44, class: "box" }));
  for (const approach of junction.approaches) {
    const dx = approach.dx, dy = -approach.dy;  // SVG's y grows downwards
    const nx = -dy, ny = dx;  // to the right of the inbound direction
    svg.append(el("svg:line", { x1: dx * 24, y1: dy * 24, x2: dx * 125, y2: dy * 125,
                                class: "road" }));
    const queue = state ? state.queues_m[approach.id] || 0 : 0;
    const length = Math.min(100, queue / QUEUE_SCALE);
    if (length > 0) {
      svg.append(el("svg:line", {
        x1: dx * 26 + nx * 6, y1: dy * 26 + ny * 6,
        x2: dx * (26 + length) + nx * 6, y2: dy * (26 + length) + ny * 6,
        class: "queue", "data-testid": `queue-${approach.id}` }));
    }
    approach.groups.forEach((group, k) => {
      const colour = state ? state.signals[group.id] : null;
      const cx = dx * 34 + nx * (4 + k * 9), cy = dy * 34 + ny * (4 + k * 9);
      svg.append(el("svg:circle", { cx, cy, r: 4.2, fill: COLOURS[colour] || "#777",
                                    "data-group": group.id }));
      svg.append(el("svg:text", { x: cx, y: cy + 1.6, class: "turn",
                                  "text-anchor": "middle" }, TURN_LETTER[group.turn] || "?"));
    });
    // Labels sit beside the road's outer end, anchored so they stay inside the picture.
    const horizontal = Math.abs(dx) > Math.abs(dy);
    const anchor = horizontal ? (dx > 0 ? "end" : "start") : "start";
    const lx = horizontal ? Math.sign(dx) * 126 : dx * 118 + 14;
    const ly = horizontal ? dy * 118 - 15 : dy * 112;
    svg.append(el("svg:text", { x: lx, y: ly, class: "approach", "text-anchor": anchor,
                                "data-testid": `label-${approach.id}` },
                  `${approach.name} · ${queue.toFixed(0)} m`));
  }
}

function showState(state) {
  const junction = view.junctions.find((j) => j.id === state.junction_id);
  if (!junction) return;
  drawSchematic(junction, state);
  const text = (id, value) => { document.getElementById(id).textContent = value; };
  text("f-mode", t(state.mode));
  text("f-phase", `${state.phase_id} · ${t(state.stage)}`);
  text("f-elapsed", `${Math.round(state.stage_elapsed_s)} ${t("seconds")}`);
  if (state.plan) {
    text("f-plan", state.plan.greens_s.map((g) => g.toFixed(0)).join(" / ")
         + ` (v${state.plan.version}, ${state.plan.source})`);
    text("f-cycle", `${state.plan.cycle_s.toFixed(0)} ${t("seconds")}`);
  }
  text("f-delay", state.delay_s == null ? "—" : `${state.delay_s.toFixed(1)} ${t("seconds")}`);
  text("f-vehicles", state.vehicles ?? "—");
  const seconds = String(Math.floor(state.sim_time_s % 60)).padStart(2, "0");
  text("f-time", `${Math.floor(state.sim_time_s / 60)}:${seconds}`);
}

async function select(junctionId) {
  const before = view.selected;
  view.selected = junctionId;
  const junction = view.junctions.find((j) => j.id === junctionId);
  document.getElementById("j-name").textContent = `${junction.id} (${junction.scenario})`;
  buildEditor(junction);
  if (before) paintMarker(before);
  paintMarker(junctionId);
  drawSchematic(junction, view.states[junctionId] || junction.state);
  if (junction.state) showState(junction.state);
  await Promise.all([loadPlans(), loadChart()]);
}

// Chart -----------------------------------------------------------------------------------

async function loadChart() {
  if (!view.selected) return;
  const result = await api("GET", `/api/junctions/${view.selected}/chart`);
  if (result.ok) drawChart(result.data);
}

function drawChart(points) {
  const svg = document.getElementById("chart");
  svg.replaceChildren();
  const width = 600, height = 160, left = 34, bottom = 18;
  svg.append(el("svg:line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom,
                              class: "axis" }));
  svg.append(el("svg:line", { x1: left, y1: 0, x2: left, y2: height - bottom, class: "axis" }));
  if (points.length < 2) return;
  const t0 = points[0].sim_time_s, t1 = points[points.length - 1].sim_time_s;
  const top = Math.max(10, ...points.map((p) => Math.max(p.delay_s || 0, p.max_queue_m || 0)));
  const x = (p) => left + (p.sim_time_s - t0) / Math.max(1, t1 - t0) * (width - left - 4);
  // The top 16 units stay free for the legend.
  const y = (v) => (height - bottom) - v / top * (height - bottom - 16);
  const line = (key, cls) => {
    const coords = points.filter((p) => p[key] != null)
      .map((p) => `${x(p).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
    if (coords) svg.append(el("svg:polyline", { points: coords, class: cls }));
  };
  line("max_queue_m", "series-queue");
  line("delay_s", "series-delay");
  svg.append(el("svg:text", { x: 2, y: 20, class: "tick" }, top.toFixed(0)));
  svg.append(el("svg:text", { x: left + 8, y: 10, class: "legend-delay" },
                `— ${t("delay")} (s)`));
  svg.append(el("svg:text", { x: left + 170, y: 10, class: "legend-queue" },
                `- - ${t("queue")} (m)`));
  svg.append(el("svg:text", { x: 2, y: height - bottom, class: "tick" }, "0"));
  svg.append(el("svg:text", { x: width - 4, y: height - 4, class: "tick",
                              "text-anchor": "end" }, `${Math.round(t1 / 60)} min`));
}

// Plan editor -------------------------------------------------------------------------------

function buildEditor(junction) {
  const box = document.getElementById("green-inputs");
  box.replaceChildren();
  const state = view.states[junction.id] || junction.state;
  const greens = (state && state.plan && state.plan.greens_s) || junction.config.greens_s;
  junction.phases.forEach((phase, i) => {
    const label = el("label", { class: "green" });
    const range = `${phase.min_green_s}–${phase.max_green_s} s`;
    label.append(el("span", {}, `${t("phase_label")} ${phase.id} (${range})`));
    label.append(el("input", { type: "number", step: "1", value: greens[i],
                               name: `green-${i}`, "data-testid": `green-${i}` }));
    box.append(label);
  });
  const canPropose = may("propose_plan");
  for (const id of ["preview", "submit-plan", "ask-optimizer", "go-adaptive"]) {
    document.getElementById(id).disabled = !canPropose;
  }
}

function editorGreens() {
  return [...document.querySelectorAll("#green-inputs input")].map((i) => Number(i.value));
}

function say(message, kind) {
  const box = document.getElementById("plan-message");
  box.textContent = message;
  box.className = `message ${kind || ""}`;
}

async function submitPlan(event) {
  event.preventDefault();
  const result = await api("PUT", `/api/junctions/${view.selected}/plan`,
                           { greens_s: editorGreens(), note: "dashboard" });
  reportChange(result);
}

function reportChange(result) {
  if (result.ok) {
    say(result.data.status === "pending" ? t("sent_pending") : t("sent_approved"), "ok");
  } else {
    const lead = result.status === 403 || result.status === 401 ? t("forbidden") : t("refused");
    say(`${lead}: ${problemText(result)}`, "error");
  }
  loadPlans();
}

async function previewPlan() {
  const out = document.getElementById("preview-result");
  out.textContent = t("preview_running");
  const result = await api("POST", `/api/junctions/${view.selected}/plan/preview`,
                           { greens_s: editorGreens() });
  if (!result.ok) {
    out.textContent = `${t("refused")}: ${problemText(result)}`;
    return;
  }
  const r = result.data;
  const sign = r.delay_change_s >= 0 ? "+" : "";
  const row = (name, run) => `${name}: ${run.greens_s.join(" / ")} → ${t("mean_loss")} ` +
    `${run.mean_time_loss_s.toFixed(1)} s (${run.trips} ${t("trips")})`;
  out.replaceChildren(el("div", {}, row(t("current"), r.current)),
                      el("div", {}, row(t("candidate"), r.candidate)),
                      el("strong", {}, `Δ ${sign}${r.delay_change_s.toFixed(1)} s`));
}

async function askOptimizer() {
  reportChange(await api("POST", `/api/junctions/${view.selected}/proposals/optimizer`));
}

async function goAdaptive() {
  reportChange(await api("PUT", `/api/junctions/${view.selected}/mode`,
                         { mode: "adaptive", note: "dashboard" }));
}

function describe(change) {
  const p = change.payload;
  if (change.kind === "plan") {
    return `${t("plan")}: ${p.greens_s.join(" / ")} (${change.origin})`;
  }
  if (change.kind === "mode") return `${t("mode")}: ${t(p.mode)}`;
  if (change.kind === "bounds") return `bounds: ${p.bounds.map((b) => b.join("–")).join(", ")}`;
  return `schedule: ${p.entries.map((e) => e.start).join(", ")}`;
}

async function loadPlans() {
  if (!view.selected) return;
  const [history, pending] = await Promise.all([
    api("GET", `/api/junctions/${view.selected}/plans`), api("GET", "/api/plan-changes")]);
  const body = document.querySelector("#history tbody");
  body.replaceChildren();
  for (const change of (history.data || []).slice(0, 12)) {
    const row = el("tr", { "data-testid": `change-${change.id}` });
    const status = change.status === "pending" || change.status === "applied"
      ? t(`${change.status}_s`) : t(change.status);
    for (const cell of [change.id, describe(change), change.proposed_by, status,
                        change.applied_at_sim_s == null ? "—" : change.applied_at_sim_s]) {
      row.append(el("td", {}, String(cell)));
    }
    row.className = change.status;
    body.append(row);
  }
  const list = document.getElementById("pending");
  list.replaceChildren();
  const items = (pending.data || []).filter((c) => c.junction_id === view.selected);
  if (!items.length) list.append(el("li", { class: "muted" }, t("none_pending")));
  for (const change of items) {
    const item = el("li", { "data-testid": `pending-${change.id}` },
                    `#${change.id} ${describe(change)} — ${change.proposed_by} `);
    if (may("approve_plan")) {
      const approve = el("button", { type: "button", "data-testid": `approve-${change.id}` },
                         t("approve"));
      approve.addEventListener("click", async () => reportChange(
        await api("POST", `/api/plan-changes/${change.id}/approve`, { note: "dashboard" })));
      const reject = el("button", { type: "button", class: "secondary" }, t("reject"));
      reject.addEventListener("click", async () => {
        const reason = prompt(t("reason"));
        if (reason) reportChange(await api("POST", `/api/plan-changes/${change.id}/reject`,
                                           { reason }));
      });
      item.append(approve, reject);
    }
    list.append(item);
  }
}

// Incidents --------------------------------------------------------------------------------

async function loadIncidents() {
  const result = await api("GET", "/api/incidents?limit=30");
  const list = document.getElementById("incidents");
  list.replaceChildren();
  if (!result.ok || !result.data.length) {
    list.append(el("li", { class: "muted" }, t("no_incidents")));
    return;
  }
  for (const incident of result.data) {
    const e = incident.event;
    const item = el("li", { class: `incident ${e.category} ${incident.status}`,
                            "data-testid": `incident-${incident.id}` });
    item.append(el("strong", {}, `${e.event_type} · ${e.severity}`),
                el("span", {}, ` ${e.junction_id} ${e.approach_id || ""} · ${e.vehicle_class}`
                               + ` · ${e.time_utc.slice(11, 19)} UTC · ${incident.status}`));
    if (incident.acknowledged_by) {
      item.append(el("em", {}, ` — ${t("acknowledged")} ${incident.acknowledged_by}`));
    } else if (may("ack_incident")) {
      const button = el("button", { type: "button", "data-testid": `ack-${incident.id}` },
                        t("ack"));
      button.addEventListener("click", async () => {
        await api("POST", `/api/incidents/${incident.id}/ack`, { note: "dashboard" });
        loadIncidents();
      });
      item.append(button);
    }
    list.append(item);
  }
}

// Start ------------------------------------------------------------------------------------

document.getElementById("login-form").addEventListener("submit", logIn);
document.getElementById("logout").addEventListener("click", logOut);
document.getElementById("lang").addEventListener("click", () => {
  toggleLanguage();
  if (view.selected) select(view.selected);
});
document.getElementById("plan-form").addEventListener("submit", submitPlan);
document.getElementById("preview").addEventListener("click", previewPlan);
document.getElementById("ask-optimizer").addEventListener("click", askOptimizer);
document.getElementById("go-adaptive").addEventListener("click", goAdaptive);
applyLabels();
api("GET", "/api/me").then((result) => { if (result.ok) begin(result.data); });
