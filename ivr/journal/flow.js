"use strict";
// The flow view: inlines /flows/{id}/diagram.svg (drawn by the server from the compiled flow,
// with counts for the period) and lists the calls that ended at a chosen step.
const BASE = location.origin + location.pathname.replace(/[^/]*$/, "");
const api = path => new URL(path, BASE).href;
const $ = id => document.getElementById(id);
const flowId = decodeURIComponent(location.pathname.replace(/\/$/, "").split("/").pop());

function filters() {
  const q = new URLSearchParams();
  for (const [id, name] of [["f-from", "from"], ["f-to", "to"], ["f-line", "service_line"]]) {
    if ($(id).value) q.set(name, $(id).value);
  }
  return q;
}

async function draw() {
  const r = await fetch(api(encodeURIComponent(flowId) + "/diagram.svg?" + filters()), {credentials: "same-origin"});
  if (!r.ok) throw new Error("diagram: " + r.status);
  const doc = new DOMParser().parseFromString(await r.text(), "image/svg+xml");
  const svg = document.importNode(doc.documentElement, true);
  $("diagram").replaceChildren(svg);
  $("summary").textContent = "(" + (svg.querySelector("desc")?.textContent || "") + ")";
  for (const g of svg.querySelectorAll("g.step")) {
    const open = () => endedAt(g.dataset.step).catch(err => console.warn(String(err)));
    g.addEventListener("click", open);
    g.addEventListener("keydown", e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
  }
}

async function endedAt(step) {
  $("ended-step").textContent = step;
  const q = filters();
  q.set("flow", flowId); q.set("step", step);
  const r = await fetch(api("../dashboard/calls?" + q), {credentials: "same-origin"});
  if (!r.ok) throw new Error("calls: " + r.status);
  const data = await r.json();
  const body = $("ended");
  body.replaceChildren();
  for (const c of data.calls) {
    const tr = document.createElement("tr");
    tr.dataset.callId = c.call_id;
    const a = document.createElement("a");
    a.href = api("../dashboard") + "?" + new URLSearchParams({call: c.call_id});
    a.textContent = c.call_id;
    const cells = [a, new Date(c.started_at * 1000).toISOString().slice(0, 19).replace("T", " "),
                   (c.idv_status || "").replaceAll("_", " "),
                   c.ended_by === "hangup" ? "hung up" : c.route_kind ? "to " + c.route_kind : "-"];
    for (const v of cells) {
      const td = document.createElement("td");
      if (v instanceof Node) td.append(v); else td.textContent = v;
      tr.append(td);
    }
    body.append(tr);
  }
  if (!data.calls.length) body.innerHTML = '<tr><td colspan="4" class="muted">no call ended at this step in the period</td></tr>';
}

function start() {
  const q = new URLSearchParams(location.search);
  const today = new Date().toISOString().slice(0, 10);
  $("f-from").value = q.get("from") || today;
  $("f-to").value = q.get("to") || today;
  $("f-line").value = q.get("service_line") || "";
  $("title").textContent = "Flow " + flowId;
  $("filters").addEventListener("submit", e => {
    e.preventDefault();
    history.replaceState(null, "", "?" + filters());
    draw().catch(err => console.warn(String(err)));
  });
  draw().catch(err => console.warn(String(err)));
}
start();
