// kvitt display: polls the till's display state with the key from the URL
// fragment (#key=…), shows the amount, the QR code while a Swish payment
// waits, and the outcome. The cashier display adds the payment's details
// and a cancel button.
(function () {
  "use strict";
  var body = document.body;
  var till = body.dataset.till;
  var cashier = body.dataset.role === "cashier";
  var key = new URLSearchParams(location.hash.slice(1)).get("key") || "";
  var $ = function (id) { return document.getElementById(id); };
  var shownQR = "";
  var current = null;

  var texts = {
    created: "Betalningen startar…",
    pending: "Väntar på betalning",
    authorized: "Reserverad",
    paid: "Betalningen är klar",
    partially_refunded: "Betald (delvis återbetald)",
    refunded: "Återbetald",
    declined: "Betalningen nekades",
    cancelled: "Betalningen avbröts",
    expired: "Tiden för betalningen gick ut",
    failed: "Betalningen misslyckades",
    unknown: "Oklart om betalningen gick igenom"
  };

  function api(path, opts) {
    opts = opts || {};
    opts.headers = Object.assign({ "Authorization": "Bearer " + key }, opts.headers || {});
    return fetch(path, opts);
  }

  function money(v, cur) {
    var neg = v < 0; v = Math.abs(v);
    var s = Math.floor(v / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, " ") + "," + String(v % 100).padStart(2, "0");
    return (neg ? "-" : "") + s + " " + (cur === "SEK" ? "kr" : cur);
  }

  function setStatus(text, cls) {
    var el = $("status");
    el.textContent = text;
    el.className = "status " + cls;
  }

  function showQR(p) {
    var a = p && p.action;
    if (!a || a.type !== "show_qr" || !a.qr_svg_url) {
      $("qr").hidden = true; $("qr").textContent = ""; shownQR = "";
      return;
    }
    if (shownQR === p.id) { return; }
    shownQR = p.id;
    api("/v1/payments/" + encodeURIComponent(p.id) + "/qr.svg").then(function (r) {
      if (!r.ok) { throw new Error("QR " + r.status); }
      return r.text();
    }).then(function (svg) {
      if (shownQR !== p.id) { return; }
      // The SVG is kvitt's own rendering of the payment's token.
      $("qr").innerHTML = svg;
      $("qr").hidden = false;
    }).catch(function (e) { shownQR = ""; showError(e); });
  }

  function showError(e) {
    $("error").textContent = String(e && e.message || e);
    $("error").hidden = false;
  }

  function render(d) {
    $("error").hidden = true;
    var sale = d.sale, p = d.payment;
    current = p || null;
    if (!sale) {
      setStatus("Välkommen", "idle");
      $("amount").textContent = ""; $("message").textContent = "";
      $("lines").hidden = true; showQR(null); renderCashier(null);
      return;
    }
    var tbody = $("lines").querySelector("tbody");
    tbody.textContent = "";
    sale.lines.forEach(function (l) {
      var tr = document.createElement("tr");
      [l.quantity + " × " + l.name, money(l.total, sale.currency)].forEach(function (t, i) {
        var td = document.createElement("td"); td.textContent = t; if (i) { td.className = "num"; } tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    $("lines").hidden = false;
    if (!p) {
      setStatus(sale.state === "completed" ? "Tack för ditt köp!" : "Att betala", "waiting");
      $("amount").textContent = money(sale.state === "completed" ? sale.total : sale.due, sale.currency);
      $("message").textContent = "";
      showQR(null); renderCashier(null);
      return;
    }
    var open = ["created", "pending", "authorized"].indexOf(p.state) >= 0;
    var ok = ["paid", "partially_refunded", "refunded"].indexOf(p.state) >= 0;
    if (sale.state === "completed") {
      setStatus("Tack för ditt köp!", "paid");
    } else {
      setStatus(texts[p.state] || p.state, open ? "waiting" : (ok ? "paid" : "failed"));
    }
    $("amount").textContent = money(open || !ok ? p.amount : sale.total, p.currency);
    var msg = (p.action && p.action.message) || p.message || "";
    if (open && p.action && p.action.type === "show_qr") { msg = "Skanna QR-koden med Swish-appen"; }
    if (open && p.action && p.action.type === "follow_terminal") { msg = "Följ instruktionerna på kortterminalen"; }
    $("message").textContent = msg;
    showQR(open ? p : null);
    renderCashier(p);
  }

  function renderCashier(p) {
    if (!cashier) { return; }
    $("cashier").hidden = false;
    $("payment-id").textContent = p ? p.id : "–";
    $("method").textContent = p ? p.method : "–";
    $("state").textContent = p ? p.state : "–";
    $("code").textContent = p && p.error_code ? p.error_code : "–";
    $("cancel").hidden = !(p && ["created", "pending", "authorized"].indexOf(p.state) >= 0);
  }

  $("cancel").addEventListener("click", function () {
    if (!current) { return; }
    api("/v1/payments/" + encodeURIComponent(current.id) + "/cancel", { method: "POST" }).then(function (r) {
      if (!r.ok) { return r.json().then(function (e) { throw new Error(e.error.message); }); }
    }).catch(showError);
  });

  function poll() {
    api("/v1/tills/" + encodeURIComponent(till) + "/display").then(function (r) {
      if (r.status === 401) { throw new Error("Ange tillets API-nyckel i adressen: #key=…"); }
      if (!r.ok) { throw new Error("kvitt svarade " + r.status); }
      return r.json();
    }).then(render).catch(showError).then(function () { setTimeout(poll, 700); });
  }
  poll();
})();
