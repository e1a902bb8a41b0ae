// LocalRouter dashboard: plain JavaScript, no framework, no build step, no network beyond
// this gateway's /api. All data is inserted with textContent, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const BUSY_STATES = new Set(["downloading", "loading"]);
  // Steps of an install after the bytes (the service's "phase"); downloading needs no label.
  const PHASES = {
    resolving: "Looking up the model",
    verifying: "Verifying",
    converting: "Converting for ONNX Runtime",
    installing: "Installing",
  };

  const state = {
    key: sessionStorage.getItem("localrouter-key") || "",
    settings: null, // GET /api/settings
    status: null, // GET /api/router/status
    models: null, // GET /api/models (null until the first answer)
    stats: null, // GET /api/stats
    lastTry: null, // POST /api/router/predict answer
    routers: null, // GET /api/routers
    savedThreshold: null,
    // A threshold finer than the slider's 0.01 steps (from calibration or settings.yaml) is
    // kept exactly here, since the slider would round it, until the user moves the slider.
    exactThreshold: null,
    calibration: null, // POST /api/calibrate answer, with the days it covered
    downloadSeen: false, // a download was running when we last looked
    cancelling: false, // cancel asked, the download has not stopped yet
    extraPriceModels: new Set(),
    providers: null, // GET /api/providers
    tests: {}, // provider name -> POST /api/providers/{name}/test answer
    editing: null, // the provider being changed in the form, or null when adding
    snippet: "python",
    history: [], // the last Try it predictions, newest first
    requestLimit: 50,
    expanded: new Set(), // request ids whose details are open
    periodChosen: false, // the user picked a period: stop following the data
    phaseClock: null, // {phase, t0, p0}: to estimate the conversion's own remaining time
  };
  const MODEL_SIZE_TEXT = "about 1.1 GB";

  // --- API access and error display ------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code || null;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    // Every request that changes something is JSON (the gateway refuses other types there).
    if (method !== "GET" && body === undefined) body = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.key) headers.Authorization = `Bearer ${state.key}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      setConnection(false);
      throw new ApiError("cannot reach the gateway; is `localrouter serve` running?", 0, "network");
    }
    setConnection(true);
    clearError("network");
    if (response.ok) clearError("auth");
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const error = data && data.error;
      let message = (error && error.message) || `the gateway answered HTTP ${response.status}`;
      if (!error && data && typeof data.detail === "string") message = data.detail;
      if (response.status === 401 || response.status === 403) showAuth();
      throw new ApiError(message, response.status, error && error.code);
    }
    return data;
  }

  const alerts = new Map(); // key -> element, so a repeating failure shows once

  function showError(key, what, err) {
    if (err && err.code === "network") {
      // One message for a lost connection, however many polls fail because of it.
      key = "network";
      what = "Connection lost";
    } else if (err && (err.status === 401 || err.status === 403)) {
      key = "auth";
      what = "Access refused";
    }
    const message = `${what}: ${err && err.message ? err.message : err}`;
    let box = alerts.get(key);
    if (!box) {
      box = document.createElement("div");
      box.className = "alert";
      box.dataset.key = key;
      const p = document.createElement("p");
      const dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.textContent = "Dismiss";
      dismiss.setAttribute("aria-label", "Dismiss this message");
      dismiss.addEventListener("click", () => clearError(key));
      box.append(p, dismiss);
      $("alerts").append(box);
      alerts.set(key, box);
    }
    const p = box.querySelector("p");
    if (p.textContent !== message) p.textContent = message;
  }

  function clearError(key) {
    const box = alerts.get(key);
    if (box) {
      box.remove();
      alerts.delete(key);
    }
  }

  let noticeTimer = 0;
  function notify(message, ms = 2500) {
    const el = $("notice");
    el.textContent = message;
    el.classList.add("show");
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => el.classList.remove("show"), ms);
  }

  // At once, without the fade: what it said must not stand beside what replaced it.
  function hideNotice() {
    const el = $("notice");
    clearTimeout(noticeTimer);
    if (!el.classList.contains("show")) return;
    el.style.transition = "none";
    el.classList.remove("show");
    void el.offsetWidth; // apply the change before the transition comes back
    el.style.transition = "";
  }

  function setConnection(ok) {
    const el = $("connection");
    el.dataset.ok = String(ok);
    el.textContent = ok ? `Connected to ${location.host}` : "Gateway unreachable";
  }

  function showAuth() {
    $("auth-form").hidden = false;
  }

  // Runs an action a user started: disables its button, reports failure, returns the result.
  async function act(key, what, button, fn) {
    if (button) button.disabled = true;
    try {
      const result = await fn();
      clearError(key);
      return result;
    } catch (err) {
      showError(key, what, err);
      return undefined;
    } finally {
      if (button) button.disabled = false;
      if (key.startsWith("router")) renderButtons();
    }
  }

  // --- formatting ------------------------------------------------------------------------

  function fmtBytes(n) {
    if (n == null) return "?";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    let v = n;
    while (v >= 1000 && i < units.length - 1) {
      v /= 1000;
      i += 1;
    }
    return `${v.toFixed(i === 0 ? 0 : v < 10 ? 2 : 1)} ${units[i]}`;
  }

  function fmtDuration(secs) {
    if (secs == null || !isFinite(secs)) return "?";
    const s = Math.max(0, Math.round(secs));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  }

  function fmtAgo(secs) {
    if (secs == null) return "never";
    return secs < 1 ? "just now" : `${fmtDuration(secs)} ago`;
  }

  function fmtMs(ms) {
    if (ms == null) return "—";
    return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
  }

  function fmtUsd(v) {
    if (v == null) return "?";
    const abs = Math.abs(v);
    if (abs === 0) return "$0";
    if (abs < 1e-6) return v > 0 ? "< $0.000001" : "> -$0.000001";
    if (abs >= 0.01) return `$${v.toFixed(abs >= 100 ? 0 : 2)}`;
    // Tiny amounts (a few test requests) keep two significant digits rather than "$0.00".
    return `$${v.toFixed(Math.min(10, 1 - Math.floor(Math.log10(abs))))}`;
  }

  const pct = (x) => `${Math.round(x * 100)}%`;
  const pct1 = (x) => `${Math.round(x * 1000) / 10}%`; // one decimal at most: 31.3%, 30%

  // Two decimals like the slider (0.30), or every digit a finer threshold has (0.253).
  function fmtThreshold(t) {
    return Math.abs(t * 100 - Math.round(t * 100)) < 1e-9 ? t.toFixed(2) : String(t);
  }

  function modelRef(entry) {
    if (!entry.model) return null;
    if (entry.provider && !String(entry.model).startsWith(`${entry.provider}/`)) {
      return `${entry.provider}/${entry.model}`;
    }
    return String(entry.model);
  }

  function fmtTime(ts) {
    const d = new Date(typeof ts === "number" ? ts * 1000 : ts);
    if (isNaN(d)) return String(ts ?? "—");
    const sameDay = d.toDateString() === new Date().toDateString();
    const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return sameDay ? time : `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
  }

  // --- router model card ------------------------------------------------------------------

  function renderStatus(s) {
    const wasDownloading = state.downloadSeen;
    state.status = s;
    $("router-card").inert = false;
    const badge = $("router-state");
    badge.textContent = s.state.replace(/_/g, " ");
    badge.dataset.state = s.state;
    $("router-model").textContent = s.repo_id || "—";
    const commit = s.commit ? ` (${String(s.commit).slice(0, 10)})` : "";
    $("router-revision").textContent = `${s.revision || "—"}${commit}`;
    $("router-precision").textContent = s.precision || "—";
    let memory = "not loaded";
    if (s.memory_usage_mb != null) memory = `${Number(s.memory_usage_mb).toFixed(0)} MB`;
    else if (s.state === "ready") memory = "not measured";
    $("router-memory").textContent = memory;
    $("router-last-used").textContent = fmtAgo(s.last_used_secs_ago);
    $("router-dir").textContent = s.model_dir || "—";

    const errorEl = $("router-error");
    // While a new download runs, the last one's failure is history, not the current state.
    const showError = s.error && s.state !== "downloading";
    errorEl.hidden = !showError;
    errorEl.textContent = showError ? `Error: ${s.error}` : "";
    if (s.state === "failed") hideNotice(); // never "Download started" beside a failure

    const box = $("download-progress");
    const bar = $("download-bar");
    if (s.state === "downloading") {
      state.downloadSeen = true;
      box.hidden = false;
      bar.removeAttribute("data-complete");
      const phase = PHASES[s.phase];
      if (phase) {
        // After the bytes: the bar shows this step's own progress and remaining time.
        const p = s.phase_progress != null ? Math.max(0, Math.min(1, s.phase_progress)) : null;
        $("download-label").textContent = phase;
        if (p == null) bar.removeAttribute("value");
        else bar.value = p * 100;
        $("download-percent").textContent = p == null ? "…" : `${Math.floor(p * 100)}%`;
        const eta = phaseEta(s.phase, p);
        const parts = [`${phase}${p == null ? "" : ` ${Math.floor(p * 100)}%`}`];
        if (eta != null) parts.push(`about ${fmtDuration(eta)} left`);
        if (s.total_bytes) parts.push(`${fmtBytes(s.total_bytes)} downloaded`);
        $("download-text").textContent = parts.join(" · ");
      } else {
        state.phaseClock = null;
        $("download-label").textContent = "Download";
        const total = s.total_bytes || 0;
        const done = s.downloaded_bytes || 0;
        const percent = total ? Math.min(100, (done / total) * 100) : 0;
        bar.value = percent;
        $("download-percent").textContent = `${Math.floor(percent)}%`;
        const parts = [`${fmtBytes(done)} of ${total ? fmtBytes(total) : "?"}`];
        if (s.bytes_per_sec != null) parts.push(`${fmtBytes(s.bytes_per_sec)}/s`);
        if (s.eta_secs != null) parts.push(`about ${fmtDuration(s.eta_secs)} left`);
        if (s.current_file) parts.push(s.current_file);
        $("download-text").textContent = parts.join(" · ");
      }
    } else if (wasDownloading) {
      state.downloadSeen = false;
      if (s.state === "downloaded" || s.state === "ready" || s.state === "loading") {
        // Finished between two polls: show the bar full so the end is visible.
        bar.value = 100;
        bar.dataset.complete = "true";
        $("download-label").textContent = "Download";
        $("download-percent").textContent = "100%";
        $("download-text").textContent = "Download complete; the router model is installed.";
      } else {
        box.hidden = true;
      }
    } else if (s.state === "not_downloaded" || s.state === "failed") {
      box.hidden = true;
    }

    const idle = $("idle-timeout");
    if (document.activeElement !== idle && s.idle_timeout_secs != null) {
      setIdleValue(s.idle_timeout_secs);
    }
    $("delete-size").textContent = s.disk_bytes != null ? `about ${fmtBytes(s.disk_bytes)}` : "its size is unknown";
    renderButtons();
    renderBanner();
    renderSetup();
  }

  // The conversion's own remaining time, from how fast its progress moved since it began.
  function phaseEta(phase, p) {
    const now = performance.now();
    const clock = state.phaseClock;
    if (!clock || clock.phase !== phase || p == null || p < clock.p0) {
      state.phaseClock = { phase, t0: now, p0: p ?? 0 };
      return null;
    }
    const done = p - clock.p0;
    if (done <= 0.01 || p >= 1) return null;
    return ((now - clock.t0) / 1000 / done) * (1 - p);
  }

  function strongFirst() {
    const chain = state.settings ? state.settings.routing.strong : [];
    return chain.length ? chain[0] : null;
  }

  function strongText() {
    const first = strongFirst();
    return first ? `the strong tier (first ${first})` : "the strong tier (empty: requests fail)";
  }

  // Why the router cannot route now, or null when it can (downloaded models load on use).
  function cannotRoute() {
    const s = state.status;
    if (state.settings && !state.settings.routing.enabled) return "routing is off";
    if (!s) return null;
    const name = selectedRouter();
    if (name !== "bert") {
      const info = routerInfo(name);
      if (state.routers && !info) return `there is no router named ${name}`;
      if (info && info.error) return `the router ${name} cannot be used`;
      if (!needsBert()) return null; // random, or a trained router with its own embedder
    }
    if (s.state === "not_downloaded") return "the router model is not downloaded";
    if (s.state === "downloading") return "the router model is still downloading";
    if (s.state === "failed") {
      return s.installed || s.configured_model_dir
        ? "the router model failed to load" : "the router model's download failed";
    }
    return null;
  }

  function renderBanner() {
    const banner = $("routing-banner");
    const why = cannotRoute();
    banner.hidden = !why;
    if (why) {
      const text = `localrouter/auto is not routed now (${why}): every request goes to ${strongText()}.`;
      if (banner.textContent !== text) banner.textContent = text;
    }
    const off = $("routing-off-help");
    if (off && state.settings) {
      off.textContent = state.settings.routing.enabled
        ? "On: each localrouter/auto request goes to the tier its win rate picks."
        : `Off: every localrouter/auto request goes to ${strongText()}.`;
    }
  }

  function renderButtons() {
    const s = state.status;
    const st = s ? s.state : "";
    // A model_dir set in settings.yaml is the user's own folder: nothing to delete there.
    const installed = Boolean(s && (s.installed ?? s.model_dir) && !s.configured_model_dir);
    $("btn-download").disabled = !(st === "not_downloaded" || st === "failed");
    $("btn-setup-download").disabled = $("btn-download").disabled;
    $("btn-load").disabled = st !== "downloaded";
    $("btn-load").hidden = st !== "downloaded";
    if (st !== "downloading") state.cancelling = false;
    // A stalled download notices the cancel only at its next byte or read timeout.
    $("btn-cancel").disabled = st !== "downloading" || state.cancelling;
    $("btn-cancel").textContent = state.cancelling ? "Cancelling…" : "Cancel";
    $("btn-unload").disabled = st !== "ready";
    $("btn-delete").disabled = !installed || BUSY_STATES.has(st);
  }

  function setIdleValue(secs) {
    const select = $("idle-timeout");
    const value = String(secs);
    if (![...select.options].some((o) => o.value === value)) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = `${fmtDuration(secs)} (from settings.yaml)`;
      select.append(option);
    }
    select.value = value;
  }

  async function refreshStatus() {
    try {
      renderStatus(await api("GET", "/api/router/status"));
      clearError("poll-status");
    } catch (err) {
      showError("poll-status", "Could not read the router status", err);
    }
  }

  async function startDownload(button) {
    const status = await act("router-download", "Could not start the download", button, () =>
      api("POST", "/api/router/download", {}),
    );
    if (status) {
      renderStatus(status);
      if (status.state === "downloading") notify("Download started");
      schedule("status", 300);
    }
  }
  $("btn-download").addEventListener("click", (event) => startDownload(event.target));
  $("btn-setup-download").addEventListener("click", (event) => startDownload(event.target));

  $("btn-load").addEventListener("click", async (event) => {
    event.target.textContent = "Loading…";
    const status = await act("router-load", "Could not load the router model", event.target, () =>
      api("POST", "/api/router/load"),
    );
    event.target.textContent = "Load now";
    if (status) {
      renderStatus(status);
      notify("Router model loaded");
    } else {
      refreshStatus();
    }
  });

  $("btn-cancel").addEventListener("click", async (event) => {
    const status = await act("router-cancel", "Could not cancel the download", event.target, () =>
      api("POST", "/api/router/download/cancel"),
    );
    if (status) {
      state.cancelling = status.state === "downloading";
      if (!state.cancelling) {
        state.downloadSeen = false;
        $("download-progress").hidden = true;
      }
      renderStatus(status);
      notify(state.cancelling
        ? "Cancelling the download…"
        : "Download cancelled. The partial files are kept: the next download resumes from them.", 6000);
    }
  });

  $("btn-unload").addEventListener("click", async (event) => {
    const status = await act("router-unload", "Could not unload the router model", event.target, () =>
      api("POST", "/api/router/unload"),
    );
    if (status) {
      renderStatus(status);
      notify("Router model unloaded from memory");
    }
  });

  $("btn-delete").addEventListener("click", () => {
    $("delete-effect").textContent =
      `Until you download it again, the router cannot route: every localrouter/auto request goes to ${strongText()}.`;
    $("confirm-delete").showModal();
  });
  $("confirm-delete").addEventListener("close", async () => {
    if ($("confirm-delete").returnValue !== "delete") return;
    const status = await act("router-delete", "Could not delete the router model", $("btn-delete"), () =>
      api("DELETE", "/api/router"),
    );
    if (status) {
      state.downloadSeen = false;
      $("download-progress").hidden = true;
      renderStatus(status);
      notify("Router model deleted");
    }
  });

  $("idle-timeout").addEventListener("change", async (event) => {
    const secs = Number(event.target.value);
    const result = await act("idle", "Could not save the idle timeout", null, () =>
      api("PATCH", "/api/settings/routellm", { idle_timeout_secs: secs }),
    );
    if (result) {
      notify(secs ? `The router unloads after ${fmtDuration(secs)} idle` : "The router stays loaded");
      if (state.settings) state.settings.routellm = result;
    } else if (state.settings) {
      setIdleValue(state.settings.routellm.idle_timeout_secs);
    }
  });

  // --- first run: the checklist and the connect snippet ------------------------------------

  function chainProviders() {
    if (!state.settings) return [];
    const refs = [...state.settings.routing.strong, ...state.settings.routing.weak];
    return [...new Set(refs.map((ref) => ref.split("/", 1)[0]))];
  }

  function renderSetup() {
    if (!state.settings) return;
    // Provider: every provider the chains use answered its test.
    const used = chainProviders();
    const tested = used.filter((name) => state.tests[name]);
    const failing = tested.filter((name) => !state.tests[name].ok);
    const providerDone = used.length > 0 && tested.length === used.length && !failing.length;
    let providerText;
    if (!used.length) providerText = "The chains name no model: add a provider and put its models in the chains.";
    else if (providerDone) providerText = `${used.join(", ")} answered.`;
    else if (tested.length < used.length) providerText = `Testing ${used.join(", ")}…`;
    else {
      providerText = failing
        .map((name) => `${name}: ${state.tests[name].error || "no answer"}`)
        .join("; ") + ". Add a provider that answers (below), or fix its base URL or key.";
    }
    $("setup-provider-text").textContent = providerText;
    $("setup-provider").dataset.done = String(providerDone);

    // Router model.
    const s = state.status;
    const st = s ? s.state : "";
    let modelDone = ["ready", "downloaded", "loading"].includes(st);
    let modelText = "—";
    if (st === "not_downloaded") {
      modelText = `Not downloaded (${MODEL_SIZE_TEXT}). Until it is, every localrouter/auto request goes to ${strongText()}.`;
    } else if (st === "downloading") modelText = "Downloading (progress in the Router model card).";
    else if (st === "failed") modelText = `Failed: ${s.error || "unknown error"}. Download it again.`;
    else if (modelDone) modelText = "Installed.";
    let downloadHidden = modelDone || st === "downloading";
    const name = selectedRouter();
    if (!needsBert()) { // the selected router needs no RouteLLM model
      const info = routerInfo(name);
      modelDone = Boolean(info && !info.error);
      downloadHidden = true;
      if (!state.routers) modelText = `Checking the router ${name}…`;
      else if (!info) modelText = `No router named ${name}: pick one in the Router card.`;
      else if (info.error) modelText = `The router ${name} cannot be used: ${info.error}`;
      else if (info.kind === "random") modelText = "The random router is selected: no model needed.";
      else modelText = `The trained router ${name} is selected: it needs its own embedder (${info.embedder}), not the RouteLLM model.`;
    }
    $("setup-model-text").textContent = modelText;
    $("setup-model").dataset.done = String(modelDone);
    $("btn-setup-download").hidden = downloadHidden;

    const complete = providerDone && modelDone;
    $("setup-heading").textContent = complete ? "Connect a client" : "Before the first request";
    $("setup-provider").hidden = complete;
    $("setup-model").hidden = complete;
    $("setup-card").dataset.complete = String(complete);
  }

  async function testProviders(names, button) {
    if (button) button.disabled = true;
    await Promise.all(names.map(async (name) => {
      try {
        state.tests[name] = await api("POST", `/api/providers/${encodeURIComponent(name)}/test`);
      } catch (err) {
        state.tests[name] = { ok: false, error: err.message, models: [] };
      }
    }));
    if (button) button.disabled = false;
    renderSetup();
    renderProviders();
  }

  $("btn-setup-test").addEventListener("click", (event) => testProviders(chainProviders(), event.target));

  function snippetText(kind) {
    const base = location.origin;
    const v1 = `${base}/v1`;
    const key = "unused-on-loopback"; // with clients in settings.yaml: a client key
    if (kind === "curl") {
      return [
        `curl ${v1}/chat/completions \\`,
        `  -H "content-type: application/json" \\`,
        `  -d '{"model": "localrouter/auto", "messages": [{"role": "user", "content": "Hello"}]}'`,
      ].join("\n");
    }
    if (kind === "responses") {
      return [
        "from openai import OpenAI",
        "",
        `client = OpenAI(base_url="${v1}", api_key="${key}")`,
        `reply = client.responses.create(model="localrouter/auto", input="Hello")`,
        "print(reply.output_text)",
      ].join("\n");
    }
    if (kind === "claude") {
      return [
        `export ANTHROPIC_BASE_URL=${base}`,
        `export ANTHROPIC_AUTH_TOKEN=${key}`,
        "claude --model localrouter/auto",
      ].join("\n");
    }
    return [
      "from openai import OpenAI",
      "",
      `client = OpenAI(base_url="${v1}", api_key="${key}")`,
      "reply = client.chat.completions.create(",
      `    model="localrouter/auto", messages=[{"role": "user", "content": "Hello"}]`,
      ")",
      "print(reply.model, reply.choices[0].message.content)",
    ].join("\n");
  }

  function renderSnippet() {
    $("connect-base").textContent = `${location.origin}/v1`;
    $("connect-snippet").textContent = snippetText(state.snippet);
    $("snippet-note").textContent = state.snippet === "claude"
      ? "Claude Code speaks Anthropic's API: the gateway answers it at the base URL."
      : "The key is not checked on loopback unless clients are configured.";
    for (const button of document.querySelectorAll("[data-snippet]")) {
      button.setAttribute("aria-pressed", String(button.dataset.snippet === state.snippet));
    }
  }

  for (const button of document.querySelectorAll("[data-snippet]")) {
    button.addEventListener("click", () => {
      state.snippet = button.dataset.snippet;
      renderSnippet();
    });
  }

  $("btn-copy-snippet").addEventListener("click", async () => {
    const text = $("connect-snippet").textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard permission: select the text so Ctrl+C copies it.
      const range = document.createRange();
      range.selectNodeContents($("connect-snippet"));
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      notify("Selected: press Ctrl+C to copy");
      return;
    }
    notify("Copied");
  });

  // --- providers ----------------------------------------------------------------------------

  const API_NAMES = { "openai-chat": "OpenAI chat", "openai-responses": "OpenAI Responses", anthropic: "Anthropic" };

  function keyText(p) {
    if (p.key_source === "env") return p.has_key ? `$${p.api_key_env}` : `$${p.api_key_env} (not set)`;
    if (p.key_source === "file") return p.has_key ? "stored" : "stored file missing";
    if (p.key_source === "config") return "in settings.yaml";
    return "none";
  }

  function renderProviders() {
    const body = $("providers-body");
    if (!state.providers) return;
    body.replaceChildren();
    if (!state.providers.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = 6;
      td.textContent = "No providers yet: add one below.";
      tr.append(td);
      body.append(tr);
    }
    for (const p of state.providers) {
      const tr = document.createElement("tr");
      tr.dataset.provider = p.name;
      const cell = (text, cls) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
        return td;
      };
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = p.name;
      tr.append(th);
      cell(p.base_url, "model");
      cell(API_NAMES[p.api] || p.api);
      cell(keyText(p));
      const test = state.tests[p.name];
      const status = cell(test ? (test.ok ? `answers (${test.models.length} model${test.models.length === 1 ? "" : "s"})` : test.error || "no answer") : "not tested", "conn");
      status.dataset.ok = test ? String(test.ok) : "unknown";
      const actions = cell("", "actions");
      const mk = (label, aria, fn) => {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.setAttribute("aria-label", aria);
        b.addEventListener("click", fn);
        actions.append(b);
        return b;
      };
      mk("Test connection", `Test the connection to ${p.name}`, async (event) => {
        await testProviders([p.name], event.target);
        showProviderModels(p.name);
      });
      mk("Change", `Change ${p.name}`, () => editProvider(p));
      mk("Remove", `Remove ${p.name}`, () => removeProvider(p));
      body.append(tr);
    }
  }

  function showProviderModels(name) {
    const test = state.tests[name];
    const box = $("provider-models");
    box.hidden = !test || !test.ok;
    if (!test || !test.ok) return;
    $("provider-models-heading").textContent = `Models of ${name}`;
    const list = $("provider-models-list");
    list.replaceChildren();
    if (!test.models.length) {
      const li = document.createElement("li");
      li.textContent = "The provider listed no models.";
      list.append(li);
    }
    for (const ref of test.models) {
      const li = document.createElement("li");
      li.dataset.model = ref;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = ref;
      li.append(name);
      for (const tier of ["strong", "weak"]) {
        const b = document.createElement("button");
        b.type = "button";
        const inChain = Boolean(state.settings) && state.settings.routing[tier].includes(ref);
        b.textContent = inChain ? `In the ${tier} chain` : `Add to ${tier}`;
        b.setAttribute("aria-label", inChain ? `${ref} is in the ${tier} chain` : `Add ${ref} to the ${tier} chain`);
        b.disabled = !state.settings || inChain;
        b.addEventListener("click", async () => {
          await setChain(tier, [...state.settings.routing[tier], ref], `${ref} added to the ${tier} chain`);
          showProviderModels(test.models.length ? ref.split("/", 1)[0] : name);
        });
        li.append(b);
      }
      list.append(li);
    }
  }

  async function refreshProviders() {
    try {
      const data = await api("GET", "/api/providers");
      state.providers = data.providers || [];
      clearError("providers");
      renderProviders();
    } catch (err) {
      showError("providers", "Could not list the providers", err);
    }
  }

  function keySource() {
    return document.querySelector('input[name="key-source"]:checked').value;
  }

  function renderKeyFields() {
    const source = keySource();
    $("provider-key-env").hidden = $("provider-key-env-label").hidden = source !== "env";
    $("provider-key").hidden = $("provider-key-label").hidden = source !== "typed";
  }
  for (const radio of document.querySelectorAll('input[name="key-source"]')) {
    radio.addEventListener("change", renderKeyFields);
  }

  function setKeySource(value) {
    for (const radio of document.querySelectorAll('input[name="key-source"]')) {
      radio.checked = radio.value === value;
    }
    renderKeyFields();
  }

  function resetProviderForm() {
    state.editing = null;
    $("provider-form").reset();
    $("provider-name").disabled = false;
    $("provider-form-legend").textContent = "Add a provider";
    $("btn-provider-save").textContent = "Add provider";
    $("btn-provider-cancel").hidden = true;
    $("key-keep-label").hidden = true;
    setKeySource("env");
  }

  function editProvider(p) {
    state.editing = p.name;
    $("provider-name").value = p.name;
    $("provider-name").disabled = true;
    $("provider-url").value = p.base_url;
    $("provider-api").value = p.api;
    $("provider-key-env").value = p.api_key_env || "";
    $("provider-key").value = "";
    $("key-keep-label").hidden = !p.key_source;
    setKeySource(p.key_source ? "keep" : "none");
    $("provider-form-legend").textContent = `Change ${p.name}`;
    $("btn-provider-save").textContent = "Save changes";
    $("btn-provider-cancel").hidden = false;
    $("provider-url").focus();
  }

  $("btn-provider-cancel").addEventListener("click", resetProviderForm);

  $("provider-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("provider-name").value.trim();
    const baseUrl = $("provider-url").value.trim();
    const problem = !/^[A-Za-z0-9_.-]+$/.test(name)
      ? "the name may use letters, digits, '.', '_' and '-'"
      : !/^https?:\/\//.test(baseUrl) ? "the base URL must begin with http(s)://" : null;
    if (problem) {
      showError("provider-form", "Cannot save the provider", new Error(problem));
      return;
    }
    const body = { base_url: baseUrl, api: $("provider-api").value };
    const source = keySource();
    if (source === "env") {
      const env = $("provider-key-env").value.trim();
      if (env) body.api_key_env = env;
      else if (state.editing) body.remove_key = true;
    } else if (source === "typed") {
      const key = $("provider-key").value.trim();
      if (!key) {
        showError("provider-form", "Cannot save the provider", new Error("type the key, or pick another option"));
        return;
      }
      body.api_key = key;
    } else if (source === "none" && state.editing) {
      body.remove_key = true;
    }
    const editing = state.editing;
    const saved = await act("provider-form", "Could not save the provider", $("btn-provider-save"), () =>
      editing
        ? api("PATCH", `/api/providers/${encodeURIComponent(editing)}`, body)
        : api("POST", "/api/providers", { name, ...body }),
    );
    $("provider-key").value = ""; // the key leaves the page either way
    if (!saved) return;
    notify(editing ? `${saved.name} saved` : `${saved.name} added`);
    resetProviderForm();
    await Promise.all([refreshProviders(), loadSettings()]);
    await testProviders([saved.name]);
    showProviderModels(saved.name);
    refreshModels();
  });

  async function removeProvider(p) {
    if (!confirm(`Remove the provider ${p.name}? Its stored key file, if any, is deleted too.`)) return;
    const result = await act("provider-remove", `Could not remove ${p.name}`, null, () =>
      api("DELETE", `/api/providers/${encodeURIComponent(p.name)}`),
    );
    if (result) {
      delete state.tests[p.name];
      state.providers = result.providers;
      renderProviders();
      notify(`${p.name} removed`);
      loadSettings();
      refreshModels();
    }
  }

  // --- routing settings -------------------------------------------------------------------

  function renderRouting() {
    const r = state.settings.routing;
    $("routing-card").inert = false;
    $("routing-enabled").checked = r.enabled;
    $("cross-tier").checked = r.cross_tier_fallback;
    state.savedThreshold = r.threshold;
    if (document.activeElement !== $("threshold")) setThresholdInput(r.threshold);
    renderThresholdState();
    renderChain("strong");
    renderChain("weak");
    renderModelSelects();
  }

  function currentThreshold() {
    return state.exactThreshold ?? Number($("threshold").value);
  }

  function setThresholdInput(value) {
    $("threshold").value = String(value);
    state.exactThreshold = value;
    onThresholdMoved();
  }

  function onThresholdMoved() {
    const t = currentThreshold();
    $("threshold-value").textContent = fmtThreshold(t);
    renderThresholdState();
    for (const button of document.querySelectorAll("[data-preset]")) {
      button.setAttribute("aria-pressed", String(Math.abs(Number(button.dataset.preset) - t) < 1e-9));
    }
    renderShare();
    renderTry();
  }

  function renderThresholdState() {
    const saved = state.savedThreshold != null && Math.abs(currentThreshold() - state.savedThreshold) < 1e-9;
    const el = $("threshold-state");
    el.textContent = saved ? "saved" : "saving…";
    el.dataset.saved = String(saved);
  }

  let shareTimer = 0;
  $("threshold").addEventListener("input", () => {
    state.exactThreshold = null; // the slider's own value from now on
    onThresholdMoved();
    clearTimeout(shareTimer);
    shareTimer = setTimeout(refreshStats, 200); // recompute the share while the slider moves
  });

  let saveTimer = 0;
  function saveThresholdSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveThreshold, 250); // arrow keys fire one change per press
  }

  async function saveThreshold() {
    const t = currentThreshold();
    if (!state.settings || t === state.savedThreshold) return;
    const routing = await act("threshold", "Could not save the threshold", null, () =>
      api("PATCH", "/api/settings/routing", { threshold: t }),
    );
    if (routing) {
      state.settings.routing = routing;
      state.savedThreshold = routing.threshold;
      renderThresholdState();
      notify(`Threshold ${fmtThreshold(routing.threshold)} saved; it applies to the next request`);
    } else {
      setThresholdInput(state.savedThreshold);
    }
  }

  $("threshold").addEventListener("change", saveThresholdSoon);
  for (const button of document.querySelectorAll("[data-preset]")) {
    button.addEventListener("click", () => {
      setThresholdInput(Number(button.dataset.preset));
      refreshStats();
      saveThreshold();
    });
  }

  // --- threshold calibration from logged traffic --------------------------------------------

  function daysText(days) {
    const option = [...$("calibrate-days").options].find((o) => Number(o.value) === days);
    return option ? option.textContent : `the last ${days} days`;
  }

  $("calibrate-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("calibrate-pct");
    const raw = input.value.trim();
    const target = Number(raw);
    // Checked here, not by the browser's bubble, so the message lands in the alert region.
    if (!raw || !Number.isFinite(target) || target < 0 || target > 100) {
      input.setAttribute("aria-invalid", "true");
      showCalibration(null);
      showError("calibrate", "Cannot calibrate",
        new Error("the target strong share must be a number from 0 to 100 (percent)"));
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    const days = Number($("calibrate-days").value);
    const button = $("btn-calibrate");
    button.disabled = true;
    button.textContent = "Calibrating…";
    try {
      const result = await api("POST", "/api/calibrate", { strong_pct: target, days });
      clearError("calibrate");
      showCalibration({ ...result, days });
    } catch (err) {
      showCalibration(null); // a suggestion made for other numbers must not stay appliable
      if (err.code === "no_data") {
        showError("calibrate", "Not enough logged traffic to calibrate",
          new Error(`${err.message}. Send requests to localrouter/auto with routing on first.`));
      } else {
        showError("calibrate", "Could not calibrate", err);
      }
    } finally {
      button.disabled = false;
      button.textContent = "Calibrate";
    }
  });

  // The slider holds two decimals: a suggestion is rounded to what it can show and save.
  function roundToSlider(t) {
    return Math.min(1, Math.max(0, Math.round(t * 100) / 100));
  }

  async function showCalibration(c) {
    if (c && c.exact_threshold == null) {
      const rounded = roundToSlider(c.threshold);
      c = { ...c, exact_threshold: c.threshold, threshold: rounded };
      if (Math.abs(rounded - c.exact_threshold) > 1e-9) {
        // The share at the rounded threshold, on the same traffic.
        try {
          const st = await api("GET", `/api/stats?threshold=${rounded}&hours=${c.days * 24}`);
          if (st.strong_share_at_threshold != null) {
            c.achieved_share = st.strong_share_at_threshold;
            c.strong_count = Math.round(st.strong_share_at_threshold * st.with_win_rate);
          }
        } catch {
          // keep the exact threshold's share; the note below says it was rounded
        }
      }
    }
    state.calibration = c;
    $("calibrate-result").hidden = !c;
    if (!c) return;
    $("calibrate-rounded").textContent = Math.abs(c.threshold - c.exact_threshold) > 1e-9
      ? `rounded from ${c.exact_threshold.toFixed(4)} to the slider's two decimals`
      : "";
    const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    $("calibrate-threshold").textContent = fmtThreshold(c.threshold);
    $("calibrate-share").textContent =
      `${pct1(c.achieved_share)}: ${c.strong_count} of ${c.prompts} (target ${c.strong_pct}%)`;
    $("calibrate-basis").textContent =
      `${plural(c.prompts, "request")} routed by ${c.router || "bert"} with a logged win rate in ${daysText(c.days)}`;
    const notes = [];
    if (Math.abs(c.achieved_share * 100 - c.strong_pct) >= 5) {
      notes.push("That is the closest share these win rates allow.");
    }
    if (c.prompts < 50) notes.push("With this few requests, the share on new traffic may differ.");
    $("calibrate-note").textContent = notes.join(" ");
    $("calibrate-note").hidden = !notes.length;
    const body = $("calibrate-table");
    body.replaceChildren();
    for (const row of c.table || []) {
      const tr = document.createElement("tr");
      if (row.threshold === c.exact_threshold) tr.className = "current";
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = fmtThreshold(row.threshold);
      const td = document.createElement("td");
      td.className = "num";
      td.textContent = pct1(row.strong_share);
      tr.append(th, td);
      body.append(tr);
    }
    $("btn-apply-calibration").textContent = `Apply threshold ${fmtThreshold(c.threshold)}`;
  }

  // The same call as the slider's, so the next request is routed with the new threshold.
  $("btn-apply-calibration").addEventListener("click", async (event) => {
    const c = state.calibration;
    if (!c || !state.settings) return;
    clearTimeout(saveTimer); // a pending slider save would overwrite it
    const routing = await act("calibrate-apply", "Could not apply the threshold", event.target, () =>
      api("PATCH", "/api/settings/routing", { threshold: c.threshold }),
    );
    if (routing) {
      state.settings.routing = routing;
      state.savedThreshold = routing.threshold;
      setThresholdInput(routing.threshold);
      refreshStats();
      notify(`Threshold ${fmtThreshold(routing.threshold)} applied; it routes the next request`);
    }
  });

  async function patchRouting(key, what, change, message) {
    const routing = await act(key, what, null, () => api("PATCH", "/api/settings/routing", change));
    if (routing) {
      state.settings.routing = routing;
      notify(message);
      // New chains may use providers not tested yet.
      const untested = chainProviders().filter((name) => !state.tests[name]);
      if (untested.length) testProviders(untested);
    }
    renderRouting(); // on failure this puts the controls back to what is saved
    renderBanner();
    renderSetup();
    return routing;
  }

  $("routing-enabled").addEventListener("change", (event) => {
    const enabled = event.target.checked;
    patchRouting("enabled", "Could not change routing", { enabled }, enabled ? "Routing enabled" : "Routing disabled");
  });

  $("cross-tier").addEventListener("change", (event) => {
    const value = event.target.checked;
    patchRouting("cross-tier", "Could not change the fallback setting", { cross_tier_fallback: value },
      value ? "Cross-tier fallback on" : "Cross-tier fallback off");
  });

  function renderChain(tier) {
    const list = $(`chain-${tier}`);
    const chain = state.settings.routing[tier];
    list.replaceChildren();
    if (!chain.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "No models: requests for this tier fail over to the other tier.";
      list.append(li);
    }
    chain.forEach((ref, index) => {
      const li = document.createElement("li");
      const item = document.createElement("div");
      item.className = "item";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = ref;
      const actions = document.createElement("span");
      actions.className = "actions";
      const mk = (label, aria, disabled, fn) => {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.setAttribute("aria-label", aria);
        b.title = aria;
        b.disabled = disabled;
        b.addEventListener("click", fn);
        return b;
      };
      actions.append(
        mk("↑", `Move ${ref} up`, index === 0, () => moveInChain(tier, index, -1)),
        mk("↓", `Move ${ref} down`, index === chain.length - 1, () => moveInChain(tier, index, 1)),
        mk("✕", `Remove ${ref}`, false, () => removeFromChain(tier, index)),
      );
      item.append(name, actions);
      li.append(item);
      list.append(li);
    });
  }

  function setChain(tier, chain, message) {
    return patchRouting(`chain-${tier}`, `Could not change the ${tier} chain`, { [tier]: chain }, message);
  }

  function moveInChain(tier, index, delta) {
    const chain = [...state.settings.routing[tier]];
    const [item] = chain.splice(index, 1);
    chain.splice(index + delta, 0, item);
    setChain(tier, chain, `${tier} chain reordered`);
  }

  function removeFromChain(tier, index) {
    const chain = [...state.settings.routing[tier]];
    const [removed] = chain.splice(index, 1);
    setChain(tier, chain, `${removed} removed from the ${tier} chain`);
  }

  for (const tier of ["strong", "weak"]) {
    $(`btn-add-${tier}`).addEventListener("click", () => {
      const ref = $(`add-${tier}`).value;
      if (!ref) return;
      setChain(tier, [...state.settings.routing[tier], ref], `${ref} added to the ${tier} chain`);
    });
  }

  function renderModelSelects() {
    if (!state.settings) return;
    for (const tier of ["strong", "weak"]) {
      const select = $(`add-${tier}`);
      const chain = new Set(state.settings.routing[tier]);
      const choices = (state.models || []).filter((m) => !chain.has(m));
      const previous = select.value;
      select.replaceChildren();
      if (!choices.length) {
        const option = document.createElement("option");
        option.value = "";
        if (state.models == null) option.textContent = "loading models…";
        else option.textContent = state.models.length ? "all models are in the chain" : "no models found";
        select.append(option);
      }
      for (const m of choices) {
        const option = document.createElement("option");
        option.value = m;
        option.textContent = m;
        select.append(option);
      }
      if (choices.includes(previous)) select.value = previous;
      $(`btn-add-${tier}`).disabled = !choices.length;
    }
  }

  async function refreshModels() {
    try {
      const data = await api("GET", "/api/models");
      state.models = data.models || [];
      clearError("models");
      renderModelSelects();
    } catch (err) {
      if (state.models == null) state.models = [];
      renderModelSelects();
      showError("models", "Could not list the available models", err);
    }
  }

  async function loadSettings() {
    try {
      state.settings = await api("GET", "/api/settings");
      clearError("settings");
      renderRouting();
      setIdleValue(state.settings.routellm.idle_timeout_secs);
      renderPrices();
      renderBanner();
      renderSetup();
      refreshRouters(); // the list and the selected router's needs (banner, checklist)
      return true;
    } catch (err) {
      showError("settings", "Could not read the settings", err);
      return false;
    }
  }

  // --- routers: the router of localrouter/auto and each trained router's curve ------------

  const curves = new Map(); // "name@created" -> GET /api/routers/{name}/curve answer, or {error}
  const CURVE_KINDS = ["random", "bert", "trained"]; // drawn in this order: trained on top

  function selectedRouter() {
    return state.settings ? state.settings.routing.router : "bert";
  }

  function routerInfo(name) {
    return state.routers ? state.routers.routers.find((r) => r.name === name) || null : null;
  }

  // The RouteLLM BERT model is needed by bert itself and by a trained router that embeds
  // with its encoder (the `bert` embedder); any other trained router needs its own embedder.
  function needsBert() {
    const name = selectedRouter();
    if (name === "bert") return true;
    const info = routerInfo(name);
    return Boolean(info && info.needs_bert);
  }

  function describeRouter(r) {
    if (r.kind === "bert") {
      const st = state.status ? state.status.state : r.state;
      return `bert: RouteLLM's BERT router (model ${String(st || "unknown").replace("_", " ")}).`;
    }
    if (r.kind === "random") return "random: a random win rate per prompt (a baseline: no model).";
    if (r.error) return `${r.name} cannot be used: ${r.error}`;
    const uses = r.needs_bert ? "the RouteLLM model's encoder" : r.embedder;
    return `${r.name}: trained (${r.method}, ${r.examples} examples), embeds prompts with ${uses}.`;
  }

  async function refreshRouters() {
    try {
      state.routers = await api("GET", "/api/routers");
      clearError("routers");
    } catch (err) {
      showError("routers", "Could not list the routers", err);
      return;
    }
    renderRouters();
    renderBanner();
    renderSetup();
  }

  function renderRouters() {
    const data = state.routers;
    if (!data || !state.settings) return;
    $("routers-card").inert = false;
    const selected = selectedRouter();
    const options = data.routers.map((r) => [r.name, r.kind === "trained" ? `${r.name} (trained)` : r.name, Boolean(r.error)]);
    if (!routerInfo(selected)) options.push([selected, `${selected} (missing)`, true]);
    const select = $("router-select");
    const signature = JSON.stringify(options);
    if (select.dataset.signature !== signature) { // rebuilt only when the list changed
      select.replaceChildren(...options.map(([value, text, disabled]) => {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = text;
        option.disabled = disabled;
        return option;
      }));
      select.dataset.signature = signature;
    }
    select.value = selected;
    const info = routerInfo(selected);
    $("router-select-help").textContent = info
      ? describeRouter(info)
      : `No router named ${selected}: localrouter/auto goes to ${strongText()}. Pick another.`;

    const trained = data.routers.filter((r) => r.kind === "trained");
    $("no-trained").hidden = trained.length > 0;
    const box = $("trained-routers");
    const drawn = JSON.stringify(trained); // redrawn only when a router changed
    if (box.dataset.drawn !== drawn) {
      box.dataset.drawn = drawn;
      box.replaceChildren(...trained.map(routerFigure));
      for (const r of trained) if (!r.error) showCurve(r);
    }
    for (const figure of box.querySelectorAll("figure")) {
      figure.dataset.selected = String(figure.dataset.router === selected);
    }
  }

  function routerFigure(r) {
    const figure = document.createElement("figure");
    figure.className = "router-curve";
    figure.dataset.router = r.name;
    figure.dataset.selected = String(r.name === selectedRouter());
    const caption = document.createElement("figcaption");
    const name = document.createElement("strong");
    name.textContent = r.name;
    caption.append(name);
    if (r.error) {
      const error = document.createElement("p");
      error.className = "error-text";
      error.textContent = r.error;
      figure.append(caption, error);
      return figure;
    }
    const when = r.created ? new Date(r.created) : null;
    const embedder = document.createElement("span");
    embedder.className = "path";
    embedder.textContent = r.embedder;
    caption.append(
      ` ${r.method}, ${r.examples} examples${when && !isNaN(when) ? `, trained ${when.toLocaleDateString()}` : ""}; embedder `,
      embedder,
    );
    const chart = svg("svg", { viewBox: "0 0 360 210", role: "img", class: "curve-chart" });
    chart.setAttribute("aria-label", `Quality against strong share: ${r.name}, bert and random, cross-validated`);
    const legend = document.createElement("p");
    legend.className = "legend muted";
    for (const [kind, label] of [["trained", r.name], ["bert", "bert"], ["random", "random"]]) {
      if (kind === "bert" && !(r.metrics && r.metrics.bert)) continue;
      const swatch = document.createElement("span");
      swatch.className = `swatch curve-${kind}`;
      legend.append(swatch, ` ${label} `);
    }
    figure.append(caption, chart, legend, metricsTable(r));
    return figure;
  }

  function metricsTable(r) {
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    const table = document.createElement("table");
    table.className = "router-metrics";
    const head = document.createElement("tr");
    for (const [text, cls] of [["Router", ""], ["APGR", "num"], ["CPT(50%)", "num"], ["CPT(80%)", "num"]]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      if (cls) th.className = cls;
      head.append(th);
    }
    const thead = document.createElement("thead");
    thead.append(head);
    const body = document.createElement("tbody");
    const metrics = r.metrics || {};
    for (const [kind, label] of [["trained", r.name], ["bert", "bert"], ["random", "random"]]) {
      const m = metrics[kind];
      if (!m) continue;
      const tr = document.createElement("tr");
      tr.dataset.router = label;
      const cells = [label, fmtMetric(m.apgr, false), fmtMetric(m.cpt50, true), fmtMetric(m.cpt80, true)];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i) td.className = "num";
        tr.append(td);
      });
      body.append(tr);
    }
    table.append(thead, body);
    wrap.append(table);
    return wrap;
  }

  function fmtMetric(value, share) {
    if (value == null) return "—";
    return share ? `${(value * 100).toFixed(1)}%` : value.toFixed(3);
  }

  async function showCurve(r) {
    const key = `${r.name}@${r.created}`;
    let data = curves.get(key);
    if (!data) {
      try {
        data = await api("GET", `/api/routers/${encodeURIComponent(r.name)}/curve`);
      } catch (err) {
        data = { error: err.message };
      }
      curves.set(key, data);
    }
    const figure = [...document.querySelectorAll("#trained-routers figure")].find((f) => f.dataset.router === r.name);
    if (figure) drawCurve(figure.querySelector("svg"), data, r.name);
  }

  // Quality (y) against the share of prompts sent to the strong model (x), hand-drawn.
  function drawCurve(chart, data, name) {
    chart.replaceChildren();
    const width = 360;
    const height = 210;
    const pad = { left: 50, right: 12, top: 10, bottom: 36 };
    const w = width - pad.left - pad.right;
    const h = height - pad.top - pad.bottom;
    if (data.error) {
      const text = svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, chart);
      text.textContent = `No curve: ${data.error}`;
      return;
    }
    const kinds = CURVE_KINDS.filter((k) => data.curves[k]);
    const values = kinds.flatMap((k) => data.curves[k].quality);
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    if (hi - lo < 1e-9) { lo -= 0.05; hi += 0.05; }
    const x = (share) => pad.left + share * w;
    const y = (q) => pad.top + h - ((q - lo) / (hi - lo)) * h;
    for (const q of [lo, (lo + hi) / 2, hi]) {
      svg("line", { x1: pad.left, x2: pad.left + w, y1: y(q), y2: y(q), class: "grid-line" }, chart);
      const label = svg("text", { x: pad.left - 5, y: y(q) + 4, "text-anchor": "end" }, chart);
      label.textContent = q.toFixed(2);
    }
    for (const share of [0, 0.5, 1]) {
      const label = svg("text", { x: x(share), y: pad.top + h + 14, "text-anchor": share === 0 ? "start" : share === 1 ? "end" : "middle" }, chart);
      label.textContent = `${share * 100}%`;
    }
    const axis = svg("text", { x: pad.left + w / 2, y: height - 4, "text-anchor": "middle" }, chart);
    axis.textContent = "share of prompts sent to the strong model";
    const yAxis = svg("text", {
      x: 0, y: 0, "text-anchor": "middle", transform: `translate(11 ${pad.top + h / 2}) rotate(-90)`,
    }, chart);
    yAxis.textContent = "quality";
    for (const kind of kinds) {
      const c = data.curves[kind];
      const points = c.strong_share.map((s, i) => `${x(s).toFixed(1)},${y(c.quality[i]).toFixed(1)}`);
      const line = svg("polyline", { points: points.join(" "), class: `curve-${kind}`, "data-points": points.length }, chart);
      const title = svg("title", {}, line);
      title.textContent = kind === "trained" ? name : kind;
    }
  }

  $("router-select").addEventListener("change", async (event) => {
    const name = event.target.value;
    $("router-select-state").textContent = "Saving…";
    const result = await act("router-select", "Could not select the router", null, () =>
      api("PATCH", "/api/settings/routing", { router: name }),
    );
    $("router-select-state").textContent = result ? "Saved" : "";
    if (result) {
      state.settings.routing = result;
      notify(`localrouter/auto now routes with ${name}`);
      state.lastTry = null;
      state.history = [];
      renderTry();
      renderHistory();
    }
    renderRouters();
    renderBanner();
    renderSetup();
  });

  // --- try it -----------------------------------------------------------------------------

  $("try-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const prompt = $("try-prompt").value;
    if (!prompt.trim()) {
      showError("try", "Cannot predict", new Error("type a prompt first"));
      return;
    }
    const button = $("btn-try");
    button.textContent = "Predicting…";
    const result = await act("try", "Prediction failed", button, () =>
      api("POST", "/api/router/predict", { prompt, threshold: currentThreshold(), router: selectedRouter() }),
    );
    button.textContent = "Predict";
    if (result) {
      state.lastTry = { ...result, prompt };
      state.history = [state.lastTry, ...state.history.filter((h) => h.prompt !== prompt)].slice(0, 5);
      renderTry();
    }
    refreshStatus(); // predicting loads the model
  });

  $("try-prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("try-form").requestSubmit();
    }
  });

  for (const button of document.querySelectorAll("[data-example]")) {
    button.addEventListener("click", () => {
      $("try-prompt").value = button.dataset.example;
      $("try-form").requestSubmit();
    });
  }

  function tierAt(winRate, t) {
    return winRate >= t ? "strong" : "weak"; // RouteLLM's rule, as the server applies it
  }

  function firstOf(tier) {
    const chain = state.settings ? state.settings.routing[tier] : [];
    return chain.length ? chain[0] : null;
  }

  function renderTry() {
    const r = state.lastTry;
    $("try-result").hidden = !r;
    if (!r) return;
    const t = currentThreshold();
    const tier = tierAt(r.win_rate, t);
    $("try-router").textContent = r.router;
    $("try-win-rate").textContent = `${r.win_rate.toFixed(4)} (${(r.win_rate * 100).toFixed(1)}%)`;
    const model = firstOf(tier);
    let goes = model ? `${model} (first of the ${tier} chain)` : `the ${tier} chain is empty`;
    if (state.settings && !state.settings.routing.enabled) goes = `${strongText()}: routing is off`;
    $("try-model").textContent = goes;
    const badge = $("try-route");
    badge.textContent = tier;
    badge.dataset.tier = tier;
    $("try-threshold").textContent = `at threshold ${fmtThreshold(t)}`;
    $("try-tokens").textContent = r.truncated ? `${r.tokens} (prompt truncated)` : String(r.tokens);
    $("try-latency").textContent = fmtMs(r.latency_ms);
    renderHistory();
  }

  function renderHistory() {
    const list = $("try-history");
    $("try-history-box").hidden = state.history.length < 2;
    list.replaceChildren();
    const t = currentThreshold();
    for (const h of state.history) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "linkish";
      const text = h.prompt.length > 60 ? `${h.prompt.slice(0, 57)}…` : h.prompt;
      button.textContent = text;
      button.title = "Put this prompt back in the box";
      button.addEventListener("click", () => {
        $("try-prompt").value = h.prompt;
        $("try-prompt").focus();
      });
      const tier = tierAt(h.win_rate, t);
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.tier = tier;
      badge.textContent = tier;
      li.append(button, ` ${h.win_rate.toFixed(3)} `, badge);
      list.append(li);
    }
  }

  // --- traffic ----------------------------------------------------------------------------

  function periodHours() {
    return Number($("period").value);
  }

  function periodText(hours) {
    return $("period").selectedOptions[0]?.textContent || `last ${hours} hours`;
  }

  const PRESETS = [...document.querySelectorAll("[data-preset]")].map((b) => Number(b.dataset.preset));

  // Until the user picks a period, show the shortest one that holds all the traffic.
  async function followData() {
    if (state.periodChosen) return;
    try {
      const total = async (hours) => (await api("GET", `/api/stats?hours=${hours}`)).total;
      const week = await total(168);
      if (!week) return;
      for (const hours of [1, 6, 24]) {
        if ((await total(hours)) === week) {
          if (!state.periodChosen) $("period").value = String(hours);
          return;
        }
      }
      if (!state.periodChosen) $("period").value = "168";
    } catch {
      // the regular refresh reports errors
    }
  }

  async function refreshStats() {
    const t = currentThreshold();
    try {
      const query = `threshold=${t}&hours=${periodHours()}&presets=${PRESETS.join(",")}`;
      const stats = await api("GET", `/api/stats?${query}`);
      if (Math.abs(currentThreshold() - t) > 1e-9) return; // slider moved on; a newer call follows
      state.stats = stats;
      clearError("stats");
      renderPresetShares();
      renderShare();
      renderTraffic();
    } catch (err) {
      showError("stats", "Could not read the statistics", err);
    }
  }

  function requestQuery() {
    const params = new URLSearchParams({ limit: String(state.requestLimit) });
    const tier = $("filter-tier").value;
    const status = $("filter-status").value;
    const model = $("filter-model").value.trim();
    if (tier) params.set("tier", tier);
    if (status) params.set("status", status);
    if (model) params.set("model", model);
    return params.toString();
  }

  async function refreshRequests() {
    try {
      const data = await api("GET", `/api/requests?${requestQuery()}`);
      clearError("requests");
      const rows = data.requests || [];
      const total = data.total ?? rows.length;
      renderRequests(rows);
      const filtered = $("filter-tier").value || $("filter-status").value || $("filter-model").value.trim();
      const count = total
        ? `Showing ${rows.length} of ${total} request${total === 1 ? "" : "s"}${filtered ? " matching the filter" : ""} (since the gateway started).`
        : "";
      // A live region: rewritten only when it changes, so it is not announced every poll.
      if ($("requests-count").textContent !== count) $("requests-count").textContent = count;
      const more = $("btn-more");
      more.hidden = rows.length >= total;
      more.textContent = `Load ${Math.min(50, total - rows.length)} more`;
    } catch (err) {
      showError("requests", "Could not read recent requests", err);
    }
  }

  $("btn-more").addEventListener("click", () => {
    state.requestLimit += 50;
    refreshRequests();
  });
  let filterTimer = 0;
  for (const id of ["filter-tier", "filter-status", "filter-model"]) {
    $(id).addEventListener(id === "filter-model" ? "input" : "change", () => {
      state.requestLimit = 50;
      clearTimeout(filterTimer);
      filterTimer = setTimeout(refreshRequests, id === "filter-model" ? 250 : 0);
    });
  }

  let followed = false;
  async function refreshTraffic() {
    if (!state.settings && !(await loadSettings())) return;
    if (!followed) {
      followed = true;
      await followData();
    }
    await Promise.all([refreshStats(), refreshRequests()]);
  }

  function renderPresetShares() {
    const s = state.stats;
    const el = $("preset-shares");
    if (!s || !s.share_at || !s.with_win_rate) {
      el.textContent = "Once routed traffic is logged, each preset shows the share of it that it would send to strong.";
      return;
    }
    const names = Object.fromEntries([...document.querySelectorAll("[data-preset]")].map(
      (b) => [Number(b.dataset.preset), b.firstChild.textContent.trim()]));
    const parts = PRESETS.map((t) => {
      const share = s.share_at[`${t}`];
      return `${names[t]} (${fmtThreshold(t)}) ${share == null ? "?" : pct(share)}`;
    });
    el.textContent = `Sent to strong on your ${s.with_win_rate} routed requests in the ${periodText(s.hours)}: ${parts.join(", ")}.`;
  }

  function renderShare() {
    const el = $("share-text");
    const s = state.stats;
    if (!s) return;
    const t = currentThreshold();
    el.replaceChildren();
    if (s.strong_share_at_threshold == null) {
      el.textContent = `No routed requests with a logged win rate in the ${periodText(s.hours)} yet.`;
      return;
    }
    const strong = document.createElement("strong");
    strong.id = "share-value";
    strong.textContent = pct(s.strong_share_at_threshold);
    const now = s.actual_strong_share != null ? ` (routed to strong so far: ${pct(s.actual_strong_share)})` : "";
    el.append(
      `At ${fmtThreshold(t)}, `,
      strong,
      ` of the ${s.with_win_rate} routed request${s.with_win_rate === 1 ? "" : "s"} in the ${periodText(s.hours)} would go to the strong tier${now}.`,
    );
  }

  function renderTraffic() {
    const s = state.stats;
    if (!s) return;
    const t = s.by_tier;
    const routed = t.strong + t.weak;
    const parts = [`${s.total} request${s.total === 1 ? "" : "s"} in the ${periodText(s.hours)}`];
    parts.push(`strong ${t.strong}${routed ? ` (${pct(t.strong / routed)})` : ""}`);
    parts.push(`weak ${t.weak}`, `direct ${t.direct}`);
    if (s.errors) parts.push(`errors ${s.errors}`);
    $("traffic-summary").textContent = parts.join(" · ");
    renderSavings(s);
    drawChart(s);
    for (const m of s.cost.missing_prices || []) {
      if (!m.startsWith("(")) state.extraPriceModels.add(m);
    }
    renderPrices(true);
  }

  function renderSavings(s) {
    const c = s.cost;
    const el = $("savings");
    const routed = s.by_tier.strong + s.by_tier.weak;
    if (!routed) {
      el.textContent = "Savings: no routed requests in this period.";
      return;
    }
    const baselines = c.baseline_models && c.baseline_models.length ? c.baseline_models : [c.strong_model];
    const target = baselines.filter(Boolean).join(" / ") || "the strong model";
    if (c.priced) {
      const pctOff = c.all_strong_usd > 0 ? Math.round((c.saved_usd / c.all_strong_usd) * 100) : 0;
      el.textContent =
        `Spent ${fmtUsd(c.actual_usd)} instead of ${fmtUsd(c.all_strong_usd)} (${pctOff >= 0 ? "−" : "+"}${Math.abs(pctOff)}%) ` +
        `on ${routed} routed request${routed === 1 ? "" : "s"}, compared with sending each to ${target} ` +
        `(the strong chain's first model at the time); ${c.strong_requests_avoided} went to the weak tier.`;
    } else {
      const missing = (c.missing_prices || []).join(", ");
      el.textContent =
        `Saved: ${c.strong_requests_avoided} of ${routed} routed requests went to the weak tier instead of ${target}. ` +
        `Dollars unknown: no price for ${missing || "some models"} (set prices below).`;
    }
  }

  function renderRequests(rows) {
    const body = $("requests-body");
    const focusedId = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.requestId : null;
    body.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = 8;
      td.textContent = $("filter-tier").value || $("filter-status").value || $("filter-model").value.trim()
        ? "No requests match the filter." : "No requests yet.";
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const e of rows) {
      const tr = document.createElement("tr");
      const fallback = e.routed_tier && e.tier && e.routed_tier !== e.tier && e.tier !== "direct";
      tr.className = `row status-${e.status === "error" ? "error" : "success"}${fallback ? " fallback" : ""}`;
      const id = e.request_id || `${e.timestamp}`;
      tr.dataset.requestId = id;
      tr.tabIndex = 0;
      const open = state.expanded.has(id);
      tr.setAttribute("aria-expanded", String(open));
      const cell = (text, cls, title) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        if (title) td.title = title;
        tr.append(td);
        return td;
      };
      cell(fmtTime(e.timestamp), "time", e.timestamp);
      const tierCell = cell("", "tier");
      if (e.tier) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.dataset.tier = e.tier;
        badge.textContent = e.tier;
        tierCell.append(badge);
        if (fallback) tierCell.append(` ← ${e.routed_tier}`);
      } else {
        tierCell.textContent = e.routed_tier ? `${e.routed_tier} (failed)` : "—";
      }
      cell(typeof e.routellm_win_rate === "number" ? e.routellm_win_rate.toFixed(3) : "—", "num");
      cell(e.requested_model || "—", "model", e.requested_model);
      const answered = modelRef(e);
      cell(answered || "—", "model", answered);
      cell(e.client || "—");
      cell(fmtMs(e.latency_ms), "num");
      const status = e.status === "error" ? `error ${e.status_code ?? ""}`.trim() : e.status || "—";
      cell(status);
      const toggle = () => {
        if (state.expanded.has(id)) state.expanded.delete(id);
        else state.expanded.add(id);
        const nowOpen = state.expanded.has(id);
        tr.setAttribute("aria-expanded", String(nowOpen));
        const next = tr.nextElementSibling;
        if (next && next.classList.contains("details")) next.remove();
        if (nowOpen) tr.after(detailsRow(e, id));
      };
      tr.addEventListener("click", toggle);
      tr.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          toggle();
        }
      });
      body.append(tr);
      if (open) body.append(detailsRow(e, id));
      if (focusedId === id) tr.focus();
    }
  }

  function detailsRow(e, id) {
    const tr = document.createElement("tr");
    tr.className = "details";
    tr.dataset.detailsFor = id;
    const td = document.createElement("td");
    td.colSpan = 8;
    const dl = document.createElement("dl");
    dl.className = "facts";
    const add = (term, value) => {
      if (value == null || value === "") return;
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dl.append(dt, dd);
    };
    let tiers = e.tier || "—";
    if (e.routed_tier && e.tier && e.routed_tier !== e.tier) {
      tiers = `routed ${e.routed_tier}, answered by ${e.tier} (cross-tier fallback)`;
    } else if (e.routed_tier) {
      tiers = `routed ${e.routed_tier}, answered by ${e.tier || "no model"}`;
    }
    add("Tier", tiers);
    add("Router", e.router || (e.routed_tier === "direct" ? "none (a provider/model was named)" : null));
    add("Win rate", typeof e.routellm_win_rate === "number" ? e.routellm_win_rate.toFixed(4) : null);
    add("Threshold", typeof e.threshold === "number" ? fmtThreshold(e.threshold) : null);
    add("Routing note", e.routing_error);
    add("Error", e.error ? String(typeof e.error === "object" ? JSON.stringify(e.error) : e.error) : null);
    add("Tokens", e.input_tokens != null ? `${e.input_tokens} in, ${e.output_tokens ?? "?"} out` : null);
    add("Endpoint", e.endpoint);
    add("Request id", e.request_id);
    td.append(dl);
    const attempts = e.attempts || [];
    if (attempts.length) {
      const h = document.createElement("p");
      h.className = "small-heading";
      h.textContent = attempts.length > 1 ? "Attempts (fallback chain, in order)" : "Attempt";
      const ol = document.createElement("ol");
      ol.className = "attempts";
      for (const a of attempts) {
        const li = document.createElement("li");
        const parts = [a.model || "?", a.status != null ? String(a.status) : ""];
        if (a.error) parts.push(String(a.error));
        li.textContent = parts.filter(Boolean).join(" · ");
        ol.append(li);
      }
      td.append(h, ol);
    }
    tr.append(td);
    return tr;
  }

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (parent) parent.append(el);
    return el;
  }

  function drawChart(s) {
    const chart = $("chart");
    const width = Math.max(200, Math.round(chart.clientWidth || 720));
    const height = Math.max(120, Math.round(chart.clientHeight || 220));
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    chart.replaceChildren();
    const pad = { left: 34, right: 40, top: 10, bottom: 22 };
    const w = width - pad.left - pad.right;
    const h = height - pad.top - pad.bottom;
    const series = s.series || [];
    const tiers = s.tiers || ["strong", "weak", "direct"]; // the server names the tiers
    const totals = series.map((b) => tiers.reduce((sum, tier) => sum + (b[tier] || 0), 0));
    const max = Math.max(1, ...totals);
    const niceMax = max <= 5 ? max : Math.ceil(max / 5) * 5;
    const y = (v) => pad.top + h - (v / niceMax) * h;

    const ticks = niceMax % 2 === 0 ? [0, niceMax / 2, niceMax] : [0, niceMax];
    for (const v of ticks) {
      svg("line", { x1: pad.left, x2: pad.left + w, y1: y(v), y2: y(v), class: "grid-line" }, chart);
      const label = svg("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, chart);
      label.textContent = String(v);
    }
    for (const share of [0, 0.5, 1]) {
      const label = svg("text", { x: pad.left + w + 6, y: pad.top + (1 - share) * h + 4 }, chart);
      label.textContent = `${share * 100}%`;
    }

    const n = Math.max(1, series.length);
    const slot = w / n;
    const barW = Math.max(1, slot * 0.78);
    const points = [];
    series.forEach((b, i) => {
      const x = pad.left + i * slot + (slot - barW) / 2;
      const group = svg("g", { class: "bucket" }, chart);
      const title = svg("title", {}, group);
      const routed = b.strong + b.weak;
      title.textContent =
        `${fmtTime(b.t)}: strong ${b.strong}, weak ${b.weak}, direct ${b.direct}` +
        (routed ? ` (${pct(b.strong / routed)} strong)` : "");
      let base = 0;
      for (const tier of tiers) {
        const count = b[tier] || 0;
        if (!count) continue;
        svg("rect", {
          x, width: barW, y: y(base + count), height: y(base) - y(base + count),
          class: `bar-${tier}`, "data-count": count,
        }, group);
        base += count;
      }
      if (routed) points.push([x + barW / 2, pad.top + (1 - b.strong / routed) * h]);
    });
    if (points.length > 1) {
      svg("polyline", { points: points.map((p) => p.join(",")).join(" "), class: "share-line" }, chart);
    }
    for (const [cx, cy] of points) svg("circle", { cx, cy, r: 3, class: "share-dot" }, chart);

    // A handful of time labels along the bottom.
    const every = Math.max(1, Math.ceil(series.length / Math.max(2, Math.floor(w / 90))));
    series.forEach((b, i) => {
      if (i % every) return;
      const d = new Date(b.t);
      const label = svg("text", { x: pad.left + i * slot + slot / 2, y: height - 6, "text-anchor": "middle" }, chart);
      label.textContent = s.hours > 24
        ? d.toLocaleDateString([], { month: "short", day: "numeric" })
        : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    });
    if (!s.total) {
      const empty = svg("text", { x: pad.left + w / 2, y: pad.top + h / 2, "text-anchor": "middle" }, chart);
      empty.textContent = "No requests in this period";
    }
  }

  if (window.ResizeObserver) {
    let last = 0;
    new ResizeObserver((entries) => {
      const width = Math.round(entries[0].contentRect.width);
      if (width !== last && state.stats) drawChart(state.stats);
      last = width;
    }).observe($("chart"));
  }

  $("period").addEventListener("change", () => {
    state.periodChosen = true;
    refreshStats();
  });
  $("btn-refresh").addEventListener("click", () => {
    refreshTraffic();
    refreshStatus();
  });

  // --- prices -----------------------------------------------------------------------------

  function priceModels() {
    const s = state.settings;
    const models = new Set([...s.routing.strong, ...s.routing.weak, ...Object.keys(s.prices)]);
    for (const m of state.extraPriceModels) models.add(m);
    return [...models];
  }

  // `onlyAdd`: add rows for newly seen models without touching what the user is typing.
  function renderPrices(onlyAdd = false) {
    if (!state.settings) return;
    $("prices-form").inert = false;
    const body = $("prices-body");
    const existing = new Set([...body.querySelectorAll("tr")].map((tr) => tr.dataset.model));
    if (!onlyAdd) {
      body.replaceChildren();
      existing.clear();
    }
    priceModels().forEach((model) => {
      if (existing.has(model)) return;
      const price = state.settings.prices[model];
      const tr = document.createElement("tr");
      tr.dataset.model = model;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = model;
      tr.append(th);
      for (const field of ["input", "output"]) {
        const td = document.createElement("td");
        const input = document.createElement("input");
        input.type = "number";
        input.min = "0";
        input.step = "any";
        input.inputMode = "decimal";
        input.dataset.field = field;
        input.setAttribute("aria-label", `${model} ${field} price, USD per million tokens`);
        input.value = price ? String(price[field]) : "";
        input.placeholder = "unknown";
        td.append(input);
        tr.append(td);
      }
      body.append(tr);
    });
  }

  $("prices-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const prices = {};
    for (const tr of $("prices-body").querySelectorAll("tr")) {
      const [input, output] = [...tr.querySelectorAll("input")].map((i) => i.value.trim());
      if (!input && !output) continue;
      if (!input || !output) {
        showError("prices", "Could not save prices", new Error(`give both prices for ${tr.dataset.model}, or neither`));
        return;
      }
      prices[tr.dataset.model] = { input: Number(input), output: Number(output) };
    }
    const saved = await act("prices", "Could not save prices", $("btn-save-prices"), () =>
      api("PUT", "/api/settings/prices", prices),
    );
    if (saved) {
      state.settings.prices = saved;
      renderPrices();
      notify("Prices saved");
      refreshStats();
    }
  });

  // --- auth -------------------------------------------------------------------------------

  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("auth-key").value.trim();
    sessionStorage.setItem("localrouter-key", state.key);
    $("auth-form").hidden = true;
    for (const key of [...alerts.keys()]) clearError(key);
    start();
  });

  // --- polling ----------------------------------------------------------------------------

  const timers = {};
  const tasks = {
    status: { run: refreshStatus, every: () => (state.status && BUSY_STATES.has(state.status.state) ? 700 : 4000) },
    traffic: { run: refreshTraffic, every: () => ($("auto-refresh").checked ? 3000 : null) },
    models: { run: refreshModels, every: () => 60000 },
    // Routers trained or deleted with the CLI while the page is open.
    routers: { run: () => (state.settings ? refreshRouters() : null), every: () => 15000 },
  };

  function schedule(name, delay) {
    clearTimeout(timers[name]);
    const task = tasks[name];
    const wait = delay ?? task.every();
    if (wait == null) return;
    timers[name] = setTimeout(async () => {
      if (!document.hidden) await task.run();
      schedule(name);
    }, wait);
  }

  $("auto-refresh").addEventListener("change", (event) => {
    if (event.target.checked) schedule("traffic", 0);
    else clearTimeout(timers.traffic);
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) schedule("traffic", 0);
  });

  async function start() {
    renderSnippet();
    await Promise.all([
      refreshStatus().then(() => schedule("status")),
      refreshTraffic().then(() => {
        schedule("traffic", state.settings ? undefined : 3000);
        return testProviders(chainProviders());
      }),
      refreshModels().then(() => schedule("models")),
      Promise.resolve().then(() => schedule("routers")),
      refreshProviders(),
    ]);
  }

  // --- health banner ----------------------------------------------------------------------

  // /health says "degraded" with its reasons while something needs attention (e.g. the
  // access log cannot be written): a banner above the dashboard says why, until it is ok.
  function watchHealth() {
    const banner = $("health-banner"); // the page's slot for it, above the dashboard
    banner.classList.add("health-banner");
    banner.setAttribute("role", "alert");
    const check = async () => {
      try {
        const response = await fetch("/health", { cache: "no-store" });
        const health = await response.json();
        const reasons = health.status === "degraded" ? health.reasons || [] : [];
        banner.textContent = reasons.length ? `Degraded: ${reasons.join("; ")}` : "";
        banner.hidden = reasons.length === 0;
      } catch (err) {
        // Unreachable: the connection indicator already says so.
      }
      setTimeout(check, 5000);
    };
    check();
  }

  watchHealth();
  start();
})();
