// The console page: log in, search an order's timeline and its events still pending in the worker, see
// its latest enriched order, list and replay dead letters. Talks only to this worker's JSON API; every value is rendered as text, never as HTML.
// The login is a bearer token kept in this tab's sessionStorage (or an authenticating proxy in front
// of the console, which then needs no token here); a `#token=...` link logs in and is wiped at once.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "vtex-bridge-console-token";
let session = null;

function token() {
  return window.sessionStorage.getItem(TOKEN_KEY) || "";
}

// fetch() with the login; a 401 sends the operator back to the login form.
async function api(path, options) {
  const headers = { Accept: "application/json", ...((options && options.headers) || {}) };
  if (token() && !headers.Authorization) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { ...(options || {}), headers });
  if (response.status === 401 && !(options && options.keepSession)) {
    showLogin("Your login was refused or has expired: log in again.");
  }
  return response;
}

function showLogin(message) {
  session = null;
  $("app").hidden = true;
  $("session").hidden = true;
  $("login-view").hidden = false;
  status("login-status", message || "", Boolean(message));
  $("login-token").focus();
}

async function startSession() {
  let response;
  try {
    response = await api("/api/session", { keepSession: true });
  } catch (error) {
    showLogin(`Console unreachable: ${error}`);
    return false;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const why = body.error === "login-not-configured" ? body.detail : "";
    showLogin(why || (token() ? "Token refused." : ""));
    return false;
  }
  session = body;
  $("session-user").textContent = `${body.user}${body.admin ? " (admin)" : ""}`;
  $("session").hidden = false;
  $("login-view").hidden = true;
  $("app").hidden = false;
  fromHash();
  loadRecentOrders();
  loadDeadLetters();
  return true;
}

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
  if (entry.replay) {
    const letter = entry.replay.dead_letter || {};
    parts.push(`replayed at ${entry.replay.replayed_at} from ${letter.topic}[${letter.partition}]@${letter.offset}`);
  }
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
  if (body.timeline.length === 0) {
    tbody.append(el("tr", { class: "empty" },
      el("td", { colspan: "7", class: "meta" }, "No outcome committed yet: its events are still in the worker (below).")));
  }
  body.timeline.forEach((entry, index) => {
    tbody.append(el("tr", { id: `entry-${index + 1}`, dataset: { outcome: entry.outcome, state: entry.state || "" } },
      el("td", {}, index + 1),
      el("td", { class: "time" }, entry.received_at || ""),
      el("td", { class: "state" }, entry.state || "—"),
      el("td", {}, (entry.source || "") + (entry.replay ? " (replay)" : "")),
      el("td", {}, el("span", { class: `outcome outcome-${entry.outcome}` }, entry.outcome.replace("_", "-"))),
      details(entry, body.timeline),
      el("td", { class: "record" }, position(entry.record)),
    ));
  });
}

// --- pending events -------------------------------------------------------------------------------
// An order's events still in the worker, with no outcome yet (`processors.pending`): in the not-found
// grace, backing off after a failure, or queued behind them. Said in words as `vtex-bridge order` does.

function waitReason(waiting) {
  switch (waiting.reason) {
    case "not-found-grace":
      return `OMS answers 404 (${waiting.attempts} attempt(s)): in the not-found grace, then dead-lettered (order-not-found)`;
    case "retry-backoff":
      return `retrying after a ${waiting.cause} failure (attempt ${waiting.attempts})`;
    case "behind-earlier-event":
      return "queued behind an earlier event of the order";
    case "account-queue-full":
      return `${waiting.parked} event(s) of the order's account parked in its partition from this offset on (the account holds its bound of events in the worker: its OMS is slow or down); the order's newer events, if any, are among them; read again once the account has room`;
    case "processing":
      return "being processed";
    default:
      return String(waiting.reason || "");
  }
}

function waitSince(waiting) {
  if (!waiting.since) return "";
  return typeof waiting.waited_s === "number" ? `${waiting.since} (${waiting.waited_s} s ago)` : waiting.since;
}

function waitUntil(waiting) {
  if (!waiting.until) return "";
  const left = typeof waiting.left_s === "number" ? ` (in ${waiting.left_s} s)` : "";
  return `${waiting.reason === "not-found-grace" ? "grace ends" : "next attempt"} ${waiting.until}${left}`;
}

function renderPending(pending) {
  const view = $("pending-view");
  const tbody = $("pending").querySelector("tbody");
  tbody.replaceChildren();
  view.hidden = pending.length === 0;
  $("pending-meta").textContent = pending.length === 0 ? ""
    : `${pending.length} event(s) not processed yet: nothing is lost, they are retried.`;
  pending.forEach((entry, index) => {
    const waiting = entry.waiting || {};
    tbody.append(el("tr", { id: `pending-${index + 1}`, dataset: { status: entry.status || "", reason: waiting.reason || "" } },
      el("td", { class: "time" }, entry.received_at || ""),
      el("td", { class: "state" }, entry.state || "—"),
      el("td", {}, (entry.source || "") + (entry.replay ? " (replay)" : "")),
      el("td", {}, entry.input ? `${entry.input.partition}@${entry.input.offset}` : ""),
      el("td", { class: "status" }, entry.status || ""),
      el("td", { class: "waiting" }, waitReason(waiting)),
      el("td", { class: "time since" }, waitSince(waiting)),
      el("td", { class: "time until" }, waitUntil(waiting)),
    ));
  });
}

// VTEX writes money as integers in cents (REFERENCE: `value`, `price`, `totals[].value`): show it in the
// order's currency, or as a plain amount when the currency is unknown.
function money(cents, currency) {
  if (typeof cents !== "number") return "";
  const amount = cents / 100;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount);
  } catch {
    return amount.toFixed(2);
  }
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
    el("span", {}, "Value"), el("span", { id: "latest-value" }, money(order.value, order.storePreferencesData?.currencyCode)),
    el("span", {}, "Items"), el("span", {}, items),
  ));
  box.append(el("details", {}, el("summary", {}, "Order document (masked)"),
    el("pre", { id: "latest-order" }, JSON.stringify(order, null, 2))));
}

async function searchOrder(orderId, account) {
  const result = $("order-result");
  status("order-status", `Looking up ${orderId}…`);
  const query = account ? `?account=${encodeURIComponent(account)}` : "";
  let response;
  try {
    response = await api(`/api/orders/${encodeURIComponent(orderId)}${query}`);
  } catch (error) {
    status("order-status", `Worker unreachable: ${error}`, true);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 404) {
    result.hidden = true;
    status("order-status", `No timeline and nothing pending for order ${orderId} (partition ${body.partition}).`, true);
    return;
  }
  if (!response.ok) {
    result.hidden = true;
    status("order-status", `Lookup failed (${response.status}): ${body.error || "error"}`, true);
    return;
  }
  $("order-title").textContent = body.order_id;
  const via = body.forwarded ? `, forwarded by ${body.forwarded_by}` : "";
  const pending = Array.isArray(body.pending) ? body.pending : [];
  const waiting = pending.length ? `, ${pending.length} pending` : "";
  $("order-meta").textContent = `Account ${body.account}, partition ${body.partition}, answered by ${body.answered_by}${via}; ${body.timeline.length} entries${waiting}.`;
  renderTimeline(body);
  renderPending(pending);
  renderLatest(body.latest);
  result.hidden = false;
  status("order-status", "");
}

// --- dead letters ---------------------------------------------------------------------------------

async function replay(letter, button) {
  const admin = $("admin-token").value.trim() || (session && session.admin ? token() : "");
  if (!admin) {
    status("replay-status", "Enter the admin token to replay.", true);
    return;
  }
  button.disabled = true;
  status("replay-status", `Replaying ${position(letter)}…`);
  try {
    const response = await api("/api/dead-letters/replay", {
      method: "POST",
      keepSession: true,
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${admin}` },
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

async function loadRecentOrders() {
  const list = $("recent-orders");
  let response;
  try {
    response = await api("/api/orders/recent");
  } catch (error) {
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !Array.isArray(body.orders)) return;
  list.replaceChildren();
  if (body.orders.length === 0) list.append("none yet");
  for (const order of body.orders) {
    list.append(el("a", { href: `#order=${encodeURIComponent(order.order_id)}`, class: "recent-order" },
      order.order_id), ` (${order.state || "?"}) `);
  }
}

async function loadDeadLetters() {
  const tbody = $("dead-letters").querySelector("tbody");
  let body;
  try {
    const response = await api("/api/dead-letters?limit=50");
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
  if (!session) return;
  const match = /^#order=([^&]+)(?:&account=(.+))?$/.exec(window.location.hash);
  if (!match) return;
  const orderId = decodeURIComponent(match[1]);
  const account = match[2] ? decodeURIComponent(match[2]) : "";
  $("order-id").value = orderId;
  $("order-account").value = account;
  searchOrder(orderId, account);
}

function takeTokenFromHash() {
  const match = /^#token=(.+)$/.exec(window.location.hash);
  if (!match) return;
  window.sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromHash();
  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const given = $("login-token").value.trim();
    if (!given) return;
    window.sessionStorage.setItem(TOKEN_KEY, given);
    $("login-token").value = "";
    if (!(await startSession())) window.sessionStorage.removeItem(TOKEN_KEY);
  });
  $("logout-button").addEventListener("click", () => {
    window.sessionStorage.removeItem(TOKEN_KEY);
    showLogin("Logged out.");
  });
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const orderId = $("order-id").value.trim();
    const account = $("order-account").value.trim();
    if (!orderId) return;
    const suffix = account ? `&account=${encodeURIComponent(account)}` : "";
    const hash = `#order=${encodeURIComponent(orderId)}${suffix}`;
    if (window.location.hash === hash) searchOrder(orderId, account);
    else window.location.hash = hash;
  });
  $("refresh-dead-letters").addEventListener("click", loadDeadLetters);
  window.addEventListener("hashchange", fromHash);
  startSession();
});
