// The console page: search an order's timeline, see its latest enriched order, list and replay dead
// letters. Talks only to this worker's JSON API; every value is rendered as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function status(id, text, isError) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", Boolean(isError));
}

function position(record) {
  return record ? `${record.topic}[${record.partition}]@${record.offset}` : "";
}

function jump(rowId) {
  return (event) => {
    event.preventDefault();
    const row = $(rowId);
    if (!row) return;
    document.querySelectorAll("tr.highlight").forEach((r) => r.classList.remove("highlight"));
    row.classList.add("highlight");
    row.scrollIntoView({ block: "center" });
  };
}

// --- order timeline -------------------------------------------------------------------------------

function details(entry, rows) {
  const parts = [];
  if (entry.input) parts.push(`input ${entry.input.partition}@${entry.input.offset}`);
  if (entry.oms) parts.push(`OMS ${entry.oms.status} in ${entry.oms.latency_ms} ms`);
  if (entry.order_sequence) parts.push(`sequence ${entry.order_sequence}`);
  if (entry.attempts) parts.push(`${entry.attempts} attempts`);
  if (entry.retries) {
    parts.push("retried: " + Object.entries(entry.retries).map(([k, v]) => `${k}×${v}`).join(", "));
  }
  if (entry.reason) parts.push(`reason: ${entry.reason}`);
  if (entry.detail) parts.push(entry.detail);
  const cell = el("td", { class: "details" }, parts.join(" · "));
  // Links between states: a duplicate to the record it repeats, a late event to the newer state,
  // a dead letter to its row in the dead-letter view.
  if (entry.outcome === "duplicate") {
    const original = rows.findIndex((e) => e.event_id === entry.event_id && e.outcome !== "duplicate");
    if (original >= 0) {
      cell.append(" ", el("a", { href: `#entry-${original + 1}`, class: "link-original", onclick: jump(`entry-${original + 1}`) }, `duplicate of #${original + 1}`));
    }
  }
  if (entry.newer_state) {
    const newer = rows.findIndex((e) => e.state === entry.newer_state && (e.outcome === "emitted" || e.outcome === "late"));
    const label = `late: ${entry.newer_state} already emitted`;
    cell.append(" ", newer >= 0
      ? el("a", { href: `#entry-${newer + 1}`, class: "link-newer", onclick: jump(`entry-${newer + 1}`) }, label)
      : label);
  }
  if ((entry.outcome === "dead_lettered" || entry.outcome === "invalid") && entry.record) {
    const target = `dl-${entry.record.partition}-${entry.record.offset}`;
    cell.append(" ", el("a", { href: `#${target}`, class: "link-dead-letter", onclick: jump(target) }, "see dead letter"));
  }
  return cell;
}

function renderTimeline(body) {
  const tbody = $("timeline").querySelector("tbody");
  tbody.replaceChildren();
  body.timeline.forEach((entry, index) => {
    tbody.append(el("tr", { id: `entry-${index + 1}`, dataset: { outcome: entry.outcome, state: entry.state || "" } },
      el("td", {}, index + 1),
      el("td", { class: "time" }, entry.received_at || ""),
      el("td", { class: "state" }, entry.state || "—"),
      el("td", {}, entry.source || ""),
      el("td", {}, el("span", { class: `outcome outcome-${entry.outcome}` }, entry.outcome.replace("_", "-"))),
      details(entry, body.timeline),
      el("td", { class: "record" }, position(entry.record)),
    ));
  });
}

function renderLatest(latest) {
  const box = $("latest");
  box.replaceChildren();
  if (!latest) {
    box.append(el("p", { class: "meta" }, "No enriched record yet (nothing emitted for this order)."));
    return;
  }
  if (latest.error) {
    box.append(el("p", { class: "error" }, `Record ${position(latest.record)}: ${latest.error}`));
    return;
  }
  const order = latest.order || {};
  const items = Array.isArray(order.items) ? order.items.length : 0;
  box.append(el("div", { class: "summary", id: "latest-summary" },
    el("span", {}, "Status"), el("span", { id: "latest-status" }, latest.order_status ?? ""),
    el("span", {}, "Event state"), el("span", {}, latest.state ?? ""),
    el("span", {}, "Processed at"), el("span", {}, latest.processed_at ?? ""),
    el("span", {}, "Record"), el("span", {}, position(latest.record)),
    el("span", {}, "Value"), el("span", {}, order.value ?? ""),
    el("span", {}, "Items"), el("span", {}, items),
  ));
  box.append(el("details", {}, el("summary", {}, "Order document (masked)"),
    el("pre", { id: "latest-order" }, JSON.stringify(order, null, 2))));
}

async function searchOrder(orderId) {
  const result = $("order-result");
  status("order-status", `Looking up ${orderId}…`);
  let response;
  try {
    response = await fetch(`/api/orders/${encodeURIComponent(orderId)}`, { headers: { Accept: "application/json" } });
  } catch (error) {
    status("order-status", `Worker unreachable: ${error}`, true);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 404) {
    result.hidden = true;
    status("order-status", `No timeline for order ${orderId} (partition ${body.partition}).`, true);
    return;
  }
  if (!response.ok) {
    result.hidden = true;
    status("order-status", `Lookup failed (${response.status}): ${body.error || "error"}`, true);
    return;
  }
  $("order-title").textContent = body.order_id;
  const via = body.forwarded ? `, forwarded by ${body.forwarded_by}` : "";
  $("order-meta").textContent = `Partition ${body.partition}, answered by ${body.answered_by}${via}; ${body.timeline.length} entries.`;
  renderTimeline(body);
  renderLatest(body.latest);
  result.hidden = false;
  status("order-status", "");
}

// --- dead letters ---------------------------------------------------------------------------------

async function replay(letter, button) {
  const token = $("admin-token").value.trim();
  if (!token) {
    status("replay-status", "Enter the admin token to replay.", true);
    return;
  }
  button.disabled = true;
  status("replay-status", `Replaying ${position(letter)}…`);
  try {
    const response = await fetch("/api/dead-letters/replay", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ partition: letter.partition, offset: letter.offset }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      status("replay-status", `Replay refused (${response.status}): ${body.error || "error"}`, true);
      button.disabled = false;
      return;
    }
    status("replay-status", `Replayed order ${body.order_id} (event ${body.event_id}) to the input topic.`);
  } catch (error) {
    status("replay-status", `Replay failed: ${error}`, true);
    button.disabled = false;
  }
}

async function loadDeadLetters() {
  const tbody = $("dead-letters").querySelector("tbody");
  let body;
  try {
    const response = await fetch("/api/dead-letters?limit=50");
    body = await response.json();
    if (!response.ok) throw new Error(body.error || response.status);
  } catch (error) {
    status("replay-status", `Could not list dead letters: ${error}`, true);
    return;
  }
  tbody.replaceChildren();
  if (body.dead_letters.length === 0) {
    tbody.append(el("tr", {}, el("td", { colspan: "7", class: "meta" }, "No dead letters.")));
  }
  for (const letter of body.dead_letters) {
    const orderLink = letter.order_id
      ? el("a", { href: `#order=${encodeURIComponent(letter.order_id)}` }, letter.order_id)
      : "—";
    const button = el("button", { type: "button", class: "replay" }, "Replay");
    button.addEventListener("click", () => replay(letter, button));
    tbody.append(el("tr", { id: `dl-${letter.partition}-${letter.offset}`, dataset: { order: letter.order_id || "" } },
      el("td", { class: "time" }, letter.dead_lettered_at || ""),
      el("td", {}, orderLink),
      el("td", {}, letter.state || ""),
      el("td", { class: "reason" }, letter.reason || ""),
      el("td", {}, letter.detail || ""),
      el("td", {}, position(letter)),
      el("td", {}, button),
    ));
  }
}

// --- wiring ---------------------------------------------------------------------------------------

function fromHash() {
  const match = /^#order=(.+)$/.exec(window.location.hash);
  if (!match) return;
  const orderId = decodeURIComponent(match[1]);
  $("order-id").value = orderId;
  searchOrder(orderId);
}

document.addEventListener("DOMContentLoaded", () => {
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const orderId = $("order-id").value.trim();
    if (!orderId) return;
    const hash = `#order=${encodeURIComponent(orderId)}`;
    if (window.location.hash === hash) searchOrder(orderId);
    else window.location.hash = hash;
  });
  $("refresh-dead-letters").addEventListener("click", loadDeadLetters);
  window.addEventListener("hashchange", fromHash);
  fromHash();
  loadDeadLetters();
});
