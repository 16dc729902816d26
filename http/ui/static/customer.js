// The customer display (/display/{till}): follows GET
// /v1/tills/{id}/display/events. With a display key (#key=… in the URL,
// kept in this tab's sessionStorage and taken out of the address bar) the
// stream is read with fetch() and a small SSE parser, because EventSource
// cannot send the Authorization header; it reconnects with back-off. A
// signed-in staff user's page uses the session cookie and EventSource.
(function () {
  "use strict";
  var k = window.kvitt, t = k.t;
  var $ = function (id) { return document.getElementById(id); };
  var tillID = document.body.dataset.till;
  var enc = encodeURIComponent;
  var storeKey = "kvitt.display." + tillID + ".key";

  function displayKey() {
    var h = new URLSearchParams(location.hash.slice(1));
    var key = h.get("key");
    if (key) {
      try { sessionStorage.setItem(storeKey, key); } catch (e) { /* private mode */ }
      history.replaceState(null, "", location.pathname + location.search);
      return key;
    }
    try { return sessionStorage.getItem(storeKey) || ""; } catch (e) { return ""; }
  }

  function note(text) { var n = $("cd-note"); n.textContent = text || ""; n.hidden = !text; }

  // sse reads a text/event-stream with fetch, calling on(event, data, id)
  // per event; it reconnects after 1, 2, 4 … 30 seconds (sooner again once
  // data flows), sending Last-Event-ID.
  function sse(path, key, on) {
    var lastID = "", delay = 1000, stopped = false;
    function again(ms) { if (!stopped) { setTimeout(connect, ms); } }
    function connect() {
      var headers = { "Accept": "text/event-stream", "Authorization": "Bearer " + key };
      if (lastID) { headers["Last-Event-ID"] = lastID; }
      fetch(path, { headers: headers, cache: "no-store" }).then(function (res) {
        if (res.status === 401 || res.status === 403 || res.status === 404) {
          note(t("cd.badkey")); again(30000); return;
        }
        if (!res.ok || !res.body) { throw new Error("HTTP " + res.status); }
        note("");
        var reader = res.body.getReader(), dec = new TextDecoder(), buf = "";
        var ev = { name: "message", data: [], id: "" };
        function line(l) {
          if (l === "") {
            if (ev.data.length) { if (ev.id) { lastID = ev.id; } on(ev.name, ev.data.join("\n"), ev.id); }
            ev = { name: "message", data: [], id: "" };
            return;
          }
          if (l[0] === ":") { return; }
          var i = l.indexOf(":"), f = i < 0 ? l : l.slice(0, i), v = i < 0 ? "" : l.slice(i + 1);
          if (v[0] === " ") { v = v.slice(1); }
          if (f === "event") { ev.name = v; } else if (f === "data") { ev.data.push(v); } else if (f === "id") { ev.id = v; } else if (f === "retry" && /^\d+$/.test(v)) { delay = Math.max(1000, parseInt(v, 10)); }
        }
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) { throw new Error("stream ended"); }
            delay = 1000;
            buf += dec.decode(r.value, { stream: true });
            var parts = buf.split(/\r\n|\r|\n/);
            buf = parts.pop();
            parts.forEach(line);
            return pump();
          });
        }
        return pump();
      }).catch(function () {
        note(t("cd.offline"));
        again(delay);
        delay = Math.min(delay * 2, 30000);
      });
    }
    connect();
    return function () { stopped = true; };
  }

  var tillQR = { key: "", src: "" };

  // The till's own MobilePay QR needs the key: fetched and shown as a data URL.
  function showTillQR(img, key) {
    var path = "/v1/tills/" + enc(tillID) + "/mobilepay/qr.svg";
    if (!key) { img.src = path; return; }
    if (tillQR.src) { img.src = tillQR.src; return; }
    fetch(path, { headers: { "Authorization": "Bearer " + key } }).then(function (res) {
      if (!res.ok) { throw new Error("HTTP " + res.status); }
      return res.blob();
    }).then(function (b) {
      var fr = new FileReader();
      fr.onload = function () { tillQR.src = fr.result; img.src = fr.result; };
      fr.readAsDataURL(b);
    }).catch(function () { img.hidden = true; });
  }

  var open = ["created", "pending", "authorized", "unknown"];

  function render(d, key) {
    var sale = d.sale, p = d.payment;
    var main = $("cd");
    if (p && sale && p.sale_id !== sale.id) { p = null; }
    if (!sale && !p) {
      main.className = "cd idle";
      $("cd-welcome").hidden = false; $("cd-sale").hidden = true; $("cd-pay").hidden = true;
      return;
    }
    $("cd-welcome").hidden = true;
    var cur = (sale || p).currency;
    if (sale) {
      var tb = $("cd-lines").querySelector("tbody");
      while (tb.firstChild) { tb.removeChild(tb.firstChild); }
      sale.lines.forEach(function (l) {
        var name = String(l.quantity) === "1" ? l.name : String(l.quantity).replace(".", ",") + " × " + l.name;
        var tr = k.el("tr", {}, [k.el("td", { text: name }), k.el("td", { class: "num", text: k.money(l.total, cur) })]);
        if (l.discount) { tr.appendChild(k.el("td", { class: "num hint", text: "−" + k.money(l.discount, cur) })); }
        tb.appendChild(tr);
      });
      $("cd-total").textContent = k.money(sale.total, cur);
      var dueN = $("cd-due");
      dueN.hidden = !(sale.state === "open" && sale.paid > 0 && sale.due > 0);
      dueN.textContent = t("cd.due", { due: k.money(sale.due, cur) });
      $("cd-sale").hidden = false;
    } else { $("cd-sale").hidden = true; }

    var pay = $("cd-pay"), qr = $("cd-qr"), status = $("cd-status"), extra = $("cd-extra");
    if (!p) { pay.hidden = true; main.className = "cd basket"; return; }
    pay.hidden = false;
    $("cd-amount").textContent = k.money(p.amount + (p.tip || 0), cur);
    extra.textContent = p.tip ? t("cd.tip", { tip: k.money(p.tip, cur) }) : "";
    var a = p.action || {}, isOpen = open.indexOf(p.state) >= 0, cls = "waiting", text = t("cd.waiting");
    qr.hidden = true;
    if (isOpen && a.qr_svg_url) {
      var u = new URL(a.qr_svg_url, location.href);
      var src = u.pathname + u.search;
      if (qr.getAttribute("src") !== src) { qr.src = src; }
      qr.alt = t("cd.qr"); qr.hidden = false;
      text = t(p.method === "mobilepay" ? "cd.scan.mobilepay" : "cd.scan.swish");
    } else if (isOpen && a.type === "scan_till_qr") {
      showTillQR(qr, key); qr.alt = t("cd.qr"); qr.hidden = false; text = t("cd.scan.till");
    } else if (isOpen && a.type === "open_app") {
      text = t("cd.app");
    } else if (isOpen && a.type === "follow_terminal") {
      text = t("cd.terminal");
    }
    if (p.state === "unknown") { text = t("cd.unknown"); }
    if (p.state === "paid" || p.state === "partially_refunded" || p.state === "refunded") {
      cls = "paid"; text = t("cd.paid");
      if (sale && sale.state === "completed") { extra.textContent = [extra.textContent, t("cd.thanks")].filter(Boolean).join(" · "); }
    } else if (p.state === "declined" || p.state === "failed") { cls = "failed"; text = t("cd.failed"); }
    else if (p.state === "cancelled") { cls = "failed"; text = t("cd.cancelled"); }
    else if (p.state === "expired") { cls = "failed"; text = t("cd.expired"); }
    status.textContent = text;
    status.className = "cd-status status " + cls;
    main.className = "cd paying " + cls + (qr.hidden ? "" : " with-qr");
  }

  function start() {
    $("cd-welcome-text").textContent = t("cd.welcome");
    $("cd-col-item").textContent = t("cd.col.item");
    $("cd-col-total").textContent = t("cd.col.total");
    $("cd-total-label").textContent = t("cd.total");
    var key = displayKey();
    var path = "/v1/tills/" + enc(tillID) + "/display/events";
    var on = function (name, data) {
      if (name !== "display") { return; }
      var d = typeof data === "string" ? JSON.parse(data) : data;
      document.body.dataset.updated = String(Date.now());
      render(d, key);
    };
    if (key) { sse(path, key, on); return; }
    if (document.body.dataset.session === "true") { k.events(path, on); return; }
    note(t("cd.nokey").replace("{till}", tillID));
  }

  document.addEventListener("DOMContentLoaded", start);
})();
