"use strict";
// The manager's dashboard. Paths are resolved against the page's URL without user:password@:
// fetch() refuses URLs holding credentials, and a relative path inherits them from a page opened
// with user:key@ in its URL. The browser still sends the basic auth it used for the page.
const BASE = location.origin + location.pathname.replace(/[^/]*$/, "");
const api = path => new URL(path, BASE).href;
const NS = "http://www.w3.org/2000/svg";
const $ = id => document.getElementById(id);
let selected = null, storyTimer = null, page = 1;

const KPIS = [
  ["calls", "Calls", "count"],
  ["identified", "Identified", "count"],
  ["verified", "Verified", "count"],
  ["idv_success_rate", "ID&V success rate", "rate"],
  ["containment_rate", "Contained in self-service", "rate"],
  ["to_agent", "To an agent", "count"],
  ["unverified_to_agent", "Not verified, to an agent", "count"],
  ["hung_up", "Hung up in the IVR", "count"],
  ["mean_ivr_s", "Mean time in the IVR", "seconds"],
  ["p90_ivr_s", "90th percentile time in the IVR", "seconds"],
];

function el(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function cell(row, value, cls) {
  const td = document.createElement("td");
  if (value instanceof Node) td.append(value); else td.textContent = value ?? "";
  if (cls) td.className = cls;
  row.append(td);
  return td;
}

async function getJSON(path) {
  const r = await fetch(api(path), {credentials: "same-origin"});
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function seconds(s) {
  if (s === null || s === undefined) return "-";
  s = Math.round(s);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
const pct = r => (r === null || r === undefined) ? "-" : (100 * r).toFixed(1) + " %";
function show(kind, v) {
  if (kind === "rate") return pct(v);
  if (kind === "seconds") return seconds(v);
  return v === null || v === undefined ? "-" : v.toLocaleString("en-GB");
}
function change(kind, d) {
  if (d === null || d === undefined) return "no previous figure";
  const sign = d > 0 ? "+" : d < 0 ? "−" : "±";
  const a = Math.abs(d);
  if (kind === "rate") return `${sign}${(100 * a).toFixed(1)} pts vs previous period`;
  if (kind === "seconds") return `${sign}${Math.round(a)} s vs previous period`;
  return `${sign}${a.toLocaleString("en-GB")} vs previous period`;
}

function filters() {
  const q = new URLSearchParams();
  for (const [id, name] of [["f-from", "from"], ["f-to", "to"], ["f-line", "service_line"], ["f-flow", "flow"]]) {
    if ($(id).value) q.set(name, $(id).value);
  }
  return q;
}

function isoDay(offset) {
  const d = new Date(Date.now() - offset * 86400000);
  return d.toISOString().slice(0, 10);
}

function fillSelect(select, values) {
  const keep = select.value;
  const first = select.options[0];
  select.replaceChildren(first);
  for (const v of values) {
    const o = document.createElement("option");
    o.value = v; o.textContent = v;
    select.append(o);
  }
  select.value = keep;
}

async function refreshOverview() {
  const data = await getJSON("dashboard/overview?" + filters());
  const h = data.headline;
  $("period").textContent = `${h.period.from} to ${h.period.to} (previous: ${h.previous_period.from} to ${h.previous_period.to})`;
  const box = $("kpis");
  box.replaceChildren();
  for (const [name, label, kind] of KPIS) {
    const div = document.createElement("div");
    div.className = "kpi"; div.dataset.name = name;
    const n = document.createElement("span"); n.className = "name"; n.textContent = label;
    const v = document.createElement("span"); v.className = "value"; v.textContent = show(kind, h.figures[name]);
    const c = document.createElement("span"); c.className = "change"; c.textContent = change(kind, h.change[name]);
    div.append(n, v, c);
    box.append(div);
  }
  const calls = data.funnel.find(r => r.metric === "calls")?.value || 0;
  const funnel = $("funnel");
  funnel.replaceChildren();
  for (const r of data.funnel.slice(0, 10)) {
    const tr = document.createElement("tr");
    tr.dataset.metric = r.metric;
    cell(tr, r.metric);
    cell(tr, show("count", r.value), "num");
    const share = calls ? (r.value || 0) / calls : null;
    cell(tr, pct(share), "num");
    const bar = document.createElement("span");
    bar.className = "bar"; bar.style.width = Math.round(120 * (share || 0)) + "px";
    cell(tr, bar);
    funnel.append(tr);
  }
  const losses = $("losses");
  losses.replaceChildren();
  for (const r of data.losses) {
    const tr = document.createElement("tr");
    tr.dataset.step = r.step;
    cell(tr, r.step);
    for (const v of [r.entered, r.hung_up, r.failed]) cell(tr, show("count", v), "num");
    cell(tr, `${show("count", r.lost)} (${pct(r.lost_rate)})`, "num");
    losses.append(tr);
  }
  if (!data.losses.length) losses.innerHTML = '<tr><td colspan="5" class="muted">no calls in the period</td></tr>';
  trend(data.trend);
  fillSelect($("f-line"), data.service_lines);
  fillSelect($("f-flow"), data.flows);
  const nav = $("flow-links");
  nav.replaceChildren();
  for (const f of data.flows) {
    const a = document.createElement("a");
    a.href = api("flows/" + encodeURIComponent(f)) + "?" + filters();
    a.textContent = "flow " + f;
    nav.append(a, document.createTextNode(" "));
  }
}

function trend(days) {
  const svg = $("trend");
  svg.replaceChildren();
  const max = Math.max(1, ...days.map(d => d.calls)), w = 600 / Math.max(1, days.length);
  days.forEach((d, i) => {
    const h = (d.calls / max) * 150, hv = (d.verified / max) * 150;
    svg.append(el("rect", {x: i * w + 1, y: 160 - h, width: Math.max(1, w / 2 - 1), height: h, fill: "#2456b8", "data-value": d.calls, "data-day": d.day}));
    svg.append(el("rect", {x: i * w + w / 2, y: 160 - hv, width: Math.max(1, w / 2 - 1), height: hv, fill: "#1f7a52", "data-value": d.verified}));
    if (days.length <= 14 || i % Math.ceil(days.length / 10) === 0) svg.append(el("text", {x: i * w + 2, y: 176, "font-size": 11}, d.day.slice(5)));
  });
  svg.setAttribute("aria-label", "Calls per day: " + days.map(d => `${d.day} ${d.calls} calls, ${d.verified} verified`).join("; "));
}

async function refreshHours() {
  const data = await getJSON("reports/calls-by-hour?" + filters());
  const svg = $("hours");
  svg.replaceChildren();
  const values = data.rows.map(r => r.calls), max = Math.max(1, ...values), w = 600 / 24;
  values.forEach((v, i) => {
    const h = (v / max) * 150;
    svg.append(el("rect", {x: i * w + 1, y: 160 - h, width: w - 2, height: h, fill: "#2456b8", "data-value": v}));
    if (i % 3 === 0) svg.append(el("text", {x: i * w + 2, y: 176, "font-size": 11}, data.rows[i].hour.slice(0, 2)));
  });
}

async function refreshFaults() {
  // Service-wide, whatever the filters: a failing dependency hits every line and flow.
  const data = await getJSON("dashboard/faults");
  const body = $("faults");
  body.replaceChildren();
  const warn = $("fault-warning");
  warn.replaceChildren();
  for (const c of data.causes) {
    if (!c.calls && !c.warning) continue;
    const tr = document.createElement("tr");
    tr.dataset.cause = c.cause;
    cell(tr, c.label + (c.warning ? " — over threshold" : ""));
    cell(tr, c.calls, "num");
    cell(tr, pct(c.share), "num");
    body.append(tr);
    if (c.warning) {
      const p = document.createElement("p");
      p.className = "warning"; p.dataset.cause = c.cause;
      p.textContent = `Warning: ${c.label}: ${c.calls} calls in the last hour (${pct(c.share)} of ${data.calls_started} calls started).`;
      warn.append(p);
    }
  }
  if (!body.children.length) body.innerHTML = `<tr><td colspan="3" class="ok">No faults in the last hour (${data.calls_started} calls started).</td></tr>`;
}

async function refreshCalls() {
  const q = filters();
  if ($("q").value.trim()) q.set("q", $("q").value.trim());
  if ($("outcome").value) q.set("outcome", $("outcome").value);
  q.set("page", page);
  const data = await getJSON("dashboard/calls?" + q);
  const body = $("calls");
  body.replaceChildren();
  for (const c of data.calls) {
    const tr = document.createElement("tr");
    tr.dataset.callId = c.call_id;
    const b = document.createElement("button");
    b.type = "button"; b.className = "link"; b.textContent = c.call_id;
    b.setAttribute("aria-label", "show the journey of call " + c.call_id);
    b.onclick = () => showStory(c.call_id);
    cell(tr, b);
    cell(tr, c.started_at ? new Date(c.started_at * 1000).toISOString().slice(0, 19).replace("T", " ") : "");
    cell(tr, c.service_line);
    cell(tr, c.flow_id ? `${c.flow_id} v${c.flow_version}` : "");
    cell(tr, c.ani || "withheld");
    cell(tr, c.customer_id || "");
    cell(tr, (c.idv_status || "").replaceAll("_", " "));
    cell(tr, c.live ? "in progress" : c.ended_by === "hangup" ? "hung up" : c.route_kind ? `to ${c.route_kind.replaceAll("_", "-")}` : "-");
    cell(tr, c.last_step || "");
    cell(tr, seconds(c.duration_ms === null ? null : c.duration_ms / 1000), "num");
    body.append(tr);
  }
  if (!data.calls.length) body.innerHTML = '<tr><td colspan="10" class="muted">no calls match</td></tr>';
  $("page").textContent = `page ${data.page}`;
  $("prev").disabled = data.page <= 1;
  $("next").disabled = !data.more;
}

async function showStory(callId) {
  selected = callId;
  $("journey-id").textContent = "of call " + callId;
  let data;
  try {
    data = await getJSON("calls/" + encodeURIComponent(callId) + "/story");
  } catch (err) {
    $("story").replaceChildren(document.createTextNode("journey not available: " + err.message));
    return;
  }
  if (selected !== callId) return;  // another call was chosen meanwhile
  const list = $("story");
  list.replaceChildren();
  for (const line of data.lines) {
    const li = document.createElement("li");
    li.dataset.actor = line.actor;
    const t = document.createElement("span"); t.className = "t"; t.textContent = "+" + line.offset_s.toFixed(1) + " s";
    const who = document.createElement("span"); who.className = "who who-" + line.actor; who.textContent = line.actor;
    const text = document.createElement("span"); text.className = "text"; text.textContent = line.text;
    li.append(t, who, text);
    list.append(li);
  }
}

function line(svg, values, color) {
  const max = Math.max(1, ...values), w = 600 / Math.max(1, values.length - 1);
  const pts = values.map((v, i) => `${i * w},${160 - (v / max) * 150}`).join(" ");
  svg.append(el("polyline", {points: pts, fill: "none", stroke: color, "stroke-width": 2}));
}

async function refreshPulse() {
  const p = await getJSON("pulse?seconds=60");
  const ev = p.per_second.map(s => s[1]), er = p.per_second.map(s => s[2]);
  const last10 = a => a.slice(-10).reduce((x, y) => x + y, 0) / 10;
  $("k-active").textContent = p.active;
  $("k-events").textContent = last10(ev).toFixed(1);
  $("k-errors").textContent = last10(er).toFixed(1);
  const svg = $("pulse");
  svg.replaceChildren();
  svg.append(el("line", {x1: 0, y1: 160, x2: 600, y2: 160, stroke: "#767676"}));
  line(svg, er, "#c22f2f"); line(svg, ev, "#2456b8");
}

async function refreshActive() {
  const data = await getJSON("calls/active");
  const now = Date.now() / 1000, body = $("active");
  body.replaceChildren();
  for (const c of data.calls) {
    const tr = document.createElement("tr");
    tr.className = "call";
    const b = document.createElement("button");
    b.type = "button"; b.className = "link"; b.textContent = c.call_id;
    b.setAttribute("aria-label", "show the journey of call " + c.call_id);
    b.onclick = () => showStory(c.call_id);
    cell(tr, b);
    for (const v of [c.service_line, c.flow + " v" + c.version, c.step || "-", Math.round(now - c.started_at) + " s"]) cell(tr, v);
    body.append(tr);
  }
  if (!data.calls.length) body.innerHTML = '<tr><td colspan="5" class="muted">no calls in progress</td></tr>';
}

function listen() {
  const source = new EventSource(api("calls/stream"));
  const status = $("k-stream");
  source.onopen = () => { status.textContent = "live"; };
  source.onerror = () => { status.textContent = "reconnecting"; };
  source.addEventListener("record", e => {
    const r = JSON.parse(e.data);
    if (r.call_id !== selected) return;
    clearTimeout(storyTimer);  // a turn brings several records: tell the story once after them
    storyTimer = setTimeout(() => showStory(r.call_id), 150);
  });
}

async function refreshCallbacks() {
  // Callbacks due, dialling, connected, and ended today (all queues).
  const data = await getJSON("reports/callbacks-now");
  const body = $("callbacks");
  body.replaceChildren();
  for (const r of data.rows) {
    const tr = document.createElement("tr");
    const name = document.createElement("td"), value = document.createElement("td");
    name.textContent = r.metric; value.textContent = r.value; value.className = "num";
    tr.append(name, value);
    body.append(tr);
  }
}

function safely(fn) { return () => fn().catch(err => console.warn(String(err))); }
function refreshPeriod() { safely(refreshOverview)(); safely(refreshHours)(); safely(refreshCalls)(); safely(refreshFaults)(); }

function start() {
  const q = new URLSearchParams(location.search);
  $("f-from").value = q.get("from") || isoDay(0);
  $("f-to").value = q.get("to") || isoDay(0);
  for (const [id, name] of [["f-line", "service_line"], ["f-flow", "flow"]]) {
    if (q.get(name)) {
      const o = document.createElement("option");
      o.value = o.textContent = q.get(name);
      $(id).append(o);
      $(id).value = q.get(name);
    }
  }
  $("filters").addEventListener("submit", e => {
    e.preventDefault();
    page = 1;
    history.replaceState(null, "", "?" + filters());
    refreshPeriod();
  });
  for (const b of document.querySelectorAll("button[data-days]")) {
    b.addEventListener("click", () => {
      const days = Number(b.dataset.days);
      $("f-from").value = isoDay(days === 7 ? 6 : days);
      $("f-to").value = isoDay(days === 1 ? 1 : 0);
      $("apply").click();
    });
  }
  $("search").addEventListener("submit", e => { e.preventDefault(); page = 1; safely(refreshCalls)(); });
  $("prev").onclick = () => { page = Math.max(1, page - 1); safely(refreshCalls)(); };
  $("next").onclick = () => { page += 1; safely(refreshCalls)(); };
  const wanted = q.get("call");
  if (wanted) safely(() => showStory(wanted))();
  refreshPeriod();
  safely(refreshPulse)(); safely(refreshActive)(); listen();
  setInterval(safely(refreshPulse), 1000);
  setInterval(safely(refreshActive), 2000);
  safely(refreshCallbacks)();
  setInterval(safely(refreshCallbacks), 5000);
  setInterval(safely(refreshFaults), 15000);
  setInterval(safely(refreshOverview), 30000);
}
start();
