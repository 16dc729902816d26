// kvitt's screens: the one way every page talks to kvitt's API. A signed-in
// page sends the session cookie (same origin) and, for every request that
// changes something, the session's CSRF token from <meta name=kvitt-csrf>;
// POSTs get a fresh Idempotency-Key, so a retried click never pays twice.
(function () {
  "use strict";
  var dict = {};
  try { dict = JSON.parse(document.getElementById("kvitt-dict").textContent || "{}"); } catch (e) { dict = {}; }
  var meta = document.querySelector('meta[name="kvitt-csrf"]');
  var csrf = meta ? meta.content : "";

  // t translates a key given to the page (i18n.go's "js." keys).
  function t(key, args) {
    var s = dict[key] || key;
    if (args) { Object.keys(args).forEach(function (k) { s = s.split("{" + k + "}").join(args[k]); }); }
    return s;
  }

  function newKey() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
  }

  // ApiError carries the API's error: code, message (for people), field.
  function ApiError(status, body) {
    var e = (body && body.error) || {};
    this.status = status;
    this.code = e.code || "network";
    this.message = e.message || t("error.network");
    this.field = e.field || "";
  }

  // api calls kvitt's API: api("POST", "/v1/sales", {...}, {key: "..."}).
  // It resolves with the JSON answer and rejects with an ApiError.
  function api(method, path, body, opts) {
    opts = opts || {};
    var headers = { "Accept": "application/json" };
    if (body !== undefined && body !== null) { headers["Content-Type"] = "application/json"; }
    if (method !== "GET" && method !== "HEAD") {
      headers["X-CSRF-Token"] = csrf;
      if (method === "POST") { headers["Idempotency-Key"] = opts.key || newKey(); }
    }
    if (opts.bearer) { headers["Authorization"] = "Bearer " + opts.bearer; }
    return fetch(path, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined || body === null ? undefined : JSON.stringify(body)
    }).then(function (res) {
      if (res.status === 204) { return null; }
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          if (res.status === 401 && !opts.bearer && location.pathname !== "/signin") {
            location.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search);
          }
          throw new ApiError(res.status, data);
        }
        return data;
      });
    }, function () { throw new ApiError(0, null); });
  }

  // events follows a server-sent event stream with the session cookie;
  // on(name, data) is called for each event. It reconnects by itself.
  // Returns a function that closes the stream.
  function events(path, on) {
    var es = new EventSource(path, { withCredentials: true });
    ["payment", "refund", "display", "end", "order"].forEach(function (name) {
      es.addEventListener(name, function (ev) {
        var data = null;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        on(name, data);
        if (name === "end") { es.close(); }
      });
    });
    return function () { es.close(); };
  }

  // money formats minor units: money(12450, "SEK") = "124,50 kr".
  function money(v, cur) {
    var neg = v < 0; v = Math.abs(v);
    var s = Math.floor(v / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u00a0") + "," + String(v % 100).padStart(2, "0");
    var sym = { SEK: "kr", NOK: "kr", DKK: "kr.", EUR: "€" }[cur] || cur || "";
    return (neg ? "−" : "") + s + (sym ? "\u00a0" + sym : "");
  }

  // parseMoney reads "124,50" or "124.50" as minor units; NaN when it is not an amount.
  function parseMoney(s) {
    s = String(s).trim().replace(/\s/g, "").replace(",", ".");
    if (!/^-?\d+(\.\d{1,2})?$/.test(s)) { return NaN; }
    var neg = s[0] === "-"; if (neg) { s = s.slice(1); }
    var parts = s.split("."); var minor = parseInt(parts[0], 10) * 100 + (parts[1] ? parseInt((parts[1] + "0").slice(0, 2), 10) : 0);
    return neg ? -minor : minor;
  }

  // showFieldError puts the API's error next to the field it names
  // (an element with data-field=<field> or id=<field>) or in fallback.
  function showFieldError(form, err, fallback) {
    form.querySelectorAll(".field-error").forEach(function (n) { n.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
    var input = err.field ? form.querySelector('[data-field="' + CSS.escape(err.field) + '"], [name="' + CSS.escape(err.field) + '"]') : null;
    if (input) {
      var p = document.createElement("p");
      p.className = "field-error error"; p.setAttribute("role", "alert");
      p.id = (input.id || input.name) + "-error";
      p.textContent = err.message;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id);
      input.insertAdjacentElement("afterend", p);
      input.focus();
    } else if (fallback) {
      fallback.textContent = err.message; fallback.hidden = false;
    }
  }

  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { n.textContent = attrs[k]; } else if (k === "class") { n.className = attrs[k]; } else { n.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return n;
  }

  window.kvitt = { api: api, events: events, money: money, parseMoney: parseMoney, t: t, showFieldError: showFieldError, el: el, newKey: newKey, ApiError: ApiError };

  document.addEventListener("DOMContentLoaded", function () {
    var out = document.getElementById("signout");
    if (out) {
      out.addEventListener("click", function () {
        api("DELETE", "/v1/session").then(function () { location.href = "/signin"; }, function () { location.href = "/signin"; });
      });
    }
    var lang = document.getElementById("lang");
    if (lang) {
      lang.addEventListener("click", function () {
        document.cookie = "kvitt_lang=" + lang.dataset.lang + "; path=/; max-age=31536000; samesite=strict";
        location.reload();
      });
    }
  });
})();
