// Explain one item: POST /v1/explain with the tenant's key (kept in this closure only).
"use strict";
(function () {
  const openMode = document.body.dataset.openMode === "true";
  const $ = (id) => document.getElementById(id);
  let apiKey = null;
  (function takeKeyFromAddress() {
    const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    const query = new URLSearchParams(location.search);
    apiKey = hash.get("api_key") || query.get("api_key");
    query.delete("api_key");
    const q = query.toString();
    if (apiKey) history.replaceState(null, "", location.pathname + (q ? "?" + q : ""));
  })();

  async function call(method, path, payload) {
    const headers = { "Content-Type": "application/json" };
    if (apiKey) headers.Authorization = "Bearer " + apiKey;
    const res = await fetch(path, { method, headers, body: payload ? JSON.stringify(payload) : undefined });
    const data = await res.json();
    if (res.status === 401) { apiKey = null; $("login").hidden = false; }
    if (!res.ok) throw new Error(data.error ? data.error.message : String(res.status));
    return data;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function render(x) {
    $("total").textContent = "— total " + (x.total === null ? "null" : x.total.toFixed(3)) + " (" + x.status + ")";
    $("reason").textContent = x.reason || "";
    const box = $("components");
    box.replaceChildren();
    for (const c of x.components) {
      const div = el("div", undefined, "component");
      div.dataset.component = c.key;
      const r = c.reward === null ? "abstained" : c.reward.toFixed(3);
      div.appendChild(el("h3", `${c.key} (${c.reward_name}, weight ${c.weight}${c.required ? ", outcome" : ", shaping"}): ${r}`));
      const t = el("table");
      const rows = [["rule", c.rule], ["reason", c.reason], ["extracted", c.extracted], ["normalised", c.normalised], ["details", c.details]];
      for (const [k, v] of rows) {
        if (v === null || v === undefined || (typeof v === "object" && !Object.keys(v).length)) continue;
        const tr = el("tr");
        tr.appendChild(el("th", k));
        const td = el("td");
        td.appendChild(el("pre", typeof v === "string" ? v : JSON.stringify(v, null, 1)));
        tr.appendChild(td);
        t.appendChild(tr);
      }
      div.appendChild(t);
      box.appendChild(div);
    }
  }

  async function loadProfiles() {
    try {
      const list = $("profiles");
      list.replaceChildren();
      for (const p of (await call("GET", "/v1/profiles")).profiles) list.appendChild(Object.assign(el("option"), { value: p.name }));
      $("status").textContent = "";
    } catch (e) { $("status").textContent = e.message; }
  }

  $("explain").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let fields = {};
    try { fields = $("fields").value.trim() ? JSON.parse($("fields").value) : {}; }
    catch (e) { $("status").textContent = "Other item fields: not JSON (" + e.message + ")"; return; }
    const item = Object.assign({ completion: $("completion").value }, fields);
    if ($("reference").value.trim()) item.reference = $("reference").value;
    try {
      render(await call("POST", "/v1/explain", { profile: $("profile").value.trim(), item }));
      $("status").textContent = "";
    } catch (e) { $("status").textContent = e.message; }
  });

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    apiKey = $("api-key").value.trim();
    $("api-key").value = "";
    $("login").hidden = true;
    loadProfiles();
  });

  window.addEventListener("DOMContentLoaded", () => {
    if (!openMode && !apiKey) { $("login").hidden = false; $("status").textContent = "Enter an API key."; }
    else loadProfiles();
  });
})();
