// The till (/till/{id}): basket, payments, receipts, returns, reports and
// recovery, all through kvitt's JSON API with the session (app.js). Text
// from the API or the articles is only ever set with textContent.
(function () {
  "use strict";
  var k = window.kvitt, t = k.t, el = k.el;
  var $ = function (id) { return document.getElementById(id); };
  var tillID = document.body.dataset.till;
  var sandbox = document.body.dataset.sandbox === "true";
  var enc = encodeURIComponent;

  var till = { currency: "SEK", vat_rates: ["25", "12", "6", "0"], methods: [] };
  var articles = [];
  var basket = [];     // {article_number, name, qty: "1", price: minor, vat: "12", discount: "0"}
  var sale = null;     // the sale at the API, with paid/due once read back
  var saleSig = "";    // the basket the sale was made of
  var cashUnits = { SEK: 100, NOK: 100, DKK: 50, EUR: 5, ISK: 10 };

  function money(v) { return k.money(v, till.currency); }
  function methodName(m) { var s = t("method." + m); return s === "method." + m ? m : s; }
  function hide(n, h) { n.hidden = !!h; }
  function clear(n) { while (n.firstChild) { n.removeChild(n.firstChild); } }
  function showError(node, err) { node.textContent = err && err.message ? err.message : String(err); node.hidden = false; }

  // Quantities ("1", "0,35") in thousandths; NaN when not a quantity.
  function parseQty(s) {
    s = String(s).trim().replace(",", ".");
    if (!/^\d+(\.\d{1,3})?$/.test(s)) { return NaN; }
    var p = s.split("."); return parseInt(p[0], 10) * 1000 + (p[1] ? parseInt((p[1] + "00").slice(0, 3), 10) : 0);
  }
  function parsePct(s) {
    s = String(s).trim().replace(",", ".");
    if (s === "") { return 0; }
    if (!/^\d+(\.\d{1,2})?$/.test(s)) { return NaN; }
    return parseFloat(s);
  }
  function lineGross(l) { return Math.round(parseQty(l.qty) * l.price / 1000); }
  function lineDiscount(l) { var p = parsePct(l.discount); return isNaN(p) ? 0 : Math.round(lineGross(l) * p / 100); }
  function lineTotal(l) { return lineGross(l) - lineDiscount(l); }
  function basketTotal() { return basket.reduce(function (s, l) { return s + (isNaN(lineTotal(l)) ? 0 : lineTotal(l)); }, 0); }
  function sig() { return JSON.stringify(basket); }
  function salePaid() { return sale && sale.paid ? sale.paid : 0; }
  function locked() { return !!(sale && (salePaid() > 0 || (sale.payments || []).some(function (p) { return ["created", "pending", "authorized", "unknown"].indexOf(p.state) >= 0; }))); }
  function due() { return sale && sale.due !== undefined && sig() === saleSig ? sale.due : basketTotal(); }

  // ---- Articles and basket ----

  function renderGrid(list) {
    var grid = $("grid"); clear(grid);
    list.forEach(function (a) {
      var b = el("button", { type: "button", class: "article" }, [el("span", { class: "name", text: a.name }), el("span", { class: "price", text: money(a.price) })]);
      b.addEventListener("click", function () { add(a); });
      grid.appendChild(b);
    });
  }

  function add(a) {
    if (locked()) { return showError($("basket-error"), { message: t("till.locked") }); }
    var same = basket.find(function (l) { return l.article_number === (a.article_number || "") && l.name === a.name && l.price === a.price && l.discount === "0" && !l.free; });
    if (same && !isNaN(parseQty(same.qty))) {
      same.qty = String((parseQty(same.qty) + 1000) / 1000).replace(".", ",");
    } else {
      basket.push({ article_number: a.article_number || "", name: a.name, qty: "1", price: a.price, vat: String(a.vat_rate), discount: "0", free: !!a.free });
    }
    $("search-msg").textContent = t("till.added", { name: a.name });
    renderBasket();
  }

  function vatSelect(id, value, label) {
    var s = el("select", { id: id, "aria-label": label });
    till.vat_rates.forEach(function (r) { var o = el("option", { value: String(r), text: String(r).replace(".", ",") + " %" }); if (String(r) === String(value)) { o.selected = true; } s.appendChild(o); });
    return s;
  }

  function renderBasket() {
    var body = $("basket-lines"); clear(body);
    var lock = locked();
    basket.forEach(function (l, i) {
      var q = el("input", { id: "q" + i, inputmode: "decimal", "data-field": "lines[" + i + "].quantity", "aria-label": t("till.qty", { name: l.name }), class: "qty", autocomplete: "off" });
      q.value = l.qty;
      var p = el("input", { id: "p" + i, inputmode: "decimal", "data-field": "lines[" + i + "].unit_price", "aria-label": t("till.price", { name: l.name }), class: "price", autocomplete: "off" });
      p.value = k.money(l.price, "").trim();
      var v = vatSelect("v" + i, l.vat, t("till.vat", { name: l.name })); v.setAttribute("data-field", "lines[" + i + "].vat_rate");
      var d = el("input", { id: "d" + i, inputmode: "decimal", "data-field": "lines[" + i + "].discount", "aria-label": t("till.discount", { name: l.name }), class: "discount", autocomplete: "off" });
      d.value = l.discount;
      var rm = el("button", { type: "button", class: "remove", "aria-label": t("till.remove") + " " + l.name, text: "×" });
      [q, p, v, d, rm].forEach(function (n) { n.disabled = lock; });
      var total = lineTotal(l);
      var tr = el("tr", {}, [
        el("td", { class: "name", text: l.name }),
        el("td", { class: "num" }, [q]), el("td", { class: "num" }, [p]), el("td", {}, [v]), el("td", { class: "num" }, [d]),
        el("td", { class: "num line-total", id: "t" + i, text: isNaN(total) ? "–" : money(total) }), el("td", {}, [rm])
      ]);
      q.addEventListener("change", function () { edit(i, "qty", q); });
      p.addEventListener("change", function () { edit(i, "price", p); });
      v.addEventListener("change", function () { edit(i, "vat", v); });
      d.addEventListener("change", function () { edit(i, "discount", d); });
      rm.addEventListener("click", function () { basket.splice(i, 1); renderBasket(); $("search").focus(); });
      [q, p, d].forEach(function (n) { n.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); n.dispatchEvent(new Event("change")); } }); });
      body.appendChild(tr);
    });
    $("basket-empty").textContent = basket.length ? "" : t("till.empty");
    renderTotals();
  }

  // edit checks one field of line i; a bad entry shows its error next to it.
  function edit(i, what, input) {
    var l = basket[i], v = input.value, err = null;
    if (what === "qty") { if (!(parseQty(v) > 0)) { err = t("err.qty"); } else { l.qty = v.trim(); } }
    if (what === "price") { var m = k.parseMoney(v); if (isNaN(m) || m < 0) { err = t("err.price"); } else { l.price = m; } }
    if (what === "vat") { l.vat = v; }
    if (what === "discount") { var pc = parsePct(v); if (isNaN(pc) || pc < 0 || pc > 100) { err = t("err.discount"); } else { l.discount = v.trim() || "0"; } }
    if (err) {
      k.showFieldError($("basket-form"), { field: input.getAttribute("data-field"), message: err });
      input.dataset.bad = "1";
      return;
    }
    delete input.dataset.bad;
    var errNode = $(input.id + "-error"); if (errNode) { errNode.remove(); }
    input.removeAttribute("aria-invalid"); input.removeAttribute("aria-describedby");
    // Only the numbers change: the row stays, so Tab moves on as expected.
    var tot = lineTotal(l);
    $("t" + i).textContent = isNaN(tot) ? "–" : money(tot);
    if (what === "price") { input.value = k.money(l.price, "").trim(); }
    renderTotals();
  }

  function renderTotals() {
    var rows = {}, order = [];
    basket.forEach(function (l) {
      var tot = lineTotal(l); if (isNaN(tot)) { return; }
      if (!rows[l.vat]) { rows[l.vat] = 0; order.push(l.vat); }
      rows[l.vat] += tot;
    });
    order.sort(function (a, b) { return parseFloat(b) - parseFloat(a); });
    var box = $("vat-rows"); clear(box);
    order.forEach(function (r) {
      var rate = parseFloat(r), gross = rows[r], vat = Math.round(gross * rate / (100 + rate));
      box.appendChild(el("p", { class: "vat-row", text: t("till.vatrow", { rate: r.replace(".", ","), vat: money(vat), gross: money(gross) }) }));
    });
    $("total").textContent = money(basketTotal());
    var pl = $("paid-line");
    if (sale && salePaid() > 0 && sig() === saleSig) {
      pl.textContent = t("till.paid", { paid: money(salePaid()), due: money(sale.due) }); pl.hidden = false;
    } else { pl.hidden = true; }
    document.querySelectorAll("#methods button").forEach(function (b) { b.disabled = basket.length === 0; });
  }

  function basketValid() {
    var bad = document.querySelector("#basket-form [data-bad]");
    if (bad) { bad.focus(); return false; }
    if (!basket.length) { showError($("basket-error"), { message: t("till.empty") }); return false; }
    $("basket-error").hidden = true;
    return true;
  }

  // ensureSale makes the sale of the basket at the API (again, if the
  // basket changed before any money was taken).
  function ensureSale() {
    if (sale && sale.state === "open" && saleSig === sig()) { return refreshSale(); }
    var old = sale && sale.state === "open" && !locked() ? sale : null;
    var cancelOld = old ? k.api("POST", "/v1/sales/" + enc(old.id) + "/cancel").catch(function () { return null; }) : Promise.resolve();
    return cancelOld.then(function () {
      var lines = basket.map(function (l) {
        var line = { name: l.name, quantity: parseQty(l.qty) / 1000, unit_price: l.price, vat_rate: parseFloat(l.vat), discount: lineDiscount(l) };
        if (l.article_number) { line.article_number = l.article_number; }
        return line;
      });
      var s = sig();
      return k.api("POST", "/v1/sales", { till_id: tillID, lines: lines }).then(function (created) {
        sale = created; saleSig = s; sale.paid = 0; sale.due = created.total;
        return sale;
      }, function (err) {
        k.showFieldError($("basket-form"), err, $("basket-error"));
        throw err;
      });
    });
  }

  function refreshSale() {
    if (!sale) { return Promise.resolve(null); }
    return k.api("GET", "/v1/sales/" + enc(sale.id)).then(function (s) { sale = s; renderBasket(); return s; });
  }

  function newSale() {
    if (locked() && sale && sale.state === "open") { return showError($("basket-error"), { message: t("till.locked") }); }
    var old = sale && sale.state === "open" ? sale : null;
    if (old) { k.api("POST", "/v1/sales/" + enc(old.id) + "/cancel").catch(function () {}); }
    sale = null; saleSig = ""; basket = [];
    $("basket-error").hidden = true;
    renderBasket();
    $("search").focus();
  }

  // ---- Payment ----

  var pay = { method: null, info: null, payment: null, stop: null, finished: false };

  function openPay(method) {
    if (!basketValid()) { return; }
    var info = till.methods.find(function (m) { return m.method === method; }) || { method: method };
    pay = { method: method, info: info, payment: null, stop: null, finished: false };
    var d = $("pay-dialog");
    $("pay-title").textContent = t("pay.title", { method: methodName(method) });
    $("pay-error").hidden = true;
    hide($("pay-form"), false); hide($("pay-progress"), true);
    var entry = $("pay-entry"); clear(entry);
    var amount = due();
    entry.appendChild(el("label", { for: "pay-amount", text: t("pay.amount") }));
    var a = el("input", { id: "pay-amount", name: "amount", "data-field": "amount", inputmode: "decimal", autocomplete: "off", "aria-describedby": "pay-amount-hint" });
    a.value = k.money(amount, "").trim();
    entry.appendChild(a);
    entry.appendChild(el("p", { id: "pay-amount-hint", class: "hint", text: info.whole_amount_only ? t("pay.whole", { method: methodName(method) }) : t("pay.amount.hint") }));
    if (info.whole_amount_only) { a.readOnly = true; }
    if (method === "cash") {
      entry.appendChild(el("label", { for: "pay-tendered", text: t("pay.tendered") }));
      var tend = el("input", { id: "pay-tendered", name: "tendered", "data-field": "tendered", inputmode: "decimal", autocomplete: "off", "aria-describedby": "pay-change" });
      entry.appendChild(tend);
      entry.appendChild(el("output", { id: "pay-change", class: "change", for: "pay-tendered pay-amount", "aria-live": "polite" }));
      var upd = function () { updateChange(); };
      tend.addEventListener("input", upd); a.addEventListener("input", upd);
    }
    if (info.cashier_confirms) {
      entry.appendChild(el("p", { class: "hint", text: t("pay.manual.help") }));
      var cb = el("input", { id: "pay-confirmed", type: "checkbox", name: "confirmed", "data-field": "confirmed" });
      var lab = el("label", { for: "pay-confirmed", class: "check", id: "pay-confirmed-label" }, [cb, el("span", { id: "pay-confirm-text", text: t("pay.confirm", { amount: money(amount) }) })]);
      entry.appendChild(lab);
      a.addEventListener("input", function () { var v = k.parseMoney(a.value); if (!isNaN(v)) { $("pay-confirm-text").textContent = t("pay.confirm", { amount: money(v) }); } });
    }
    var setLabel = function () { var v = k.parseMoney(a.value); $("pay-start").textContent = t("pay.start", { amount: isNaN(v) ? "" : money(v) }); };
    a.addEventListener("input", setLabel); setLabel();
    d.showModal();
    (method === "cash" ? $("pay-tendered") : a.readOnly ? $("pay-start") : a).focus();
    if (method === "cash" || !a.readOnly) { try { (method === "cash" ? $("pay-tendered") : a).select(); } catch (e) { /* not selectable */ } }
  }

  function roundCash(v) { var u = cashUnits[till.currency] || 1; return Math.round(v / u) * u; }
  function updateChange() {
    var a = k.parseMoney($("pay-amount").value), tv = $("pay-tendered").value.trim(), out = $("pay-change");
    if (!tv || isNaN(a)) { out.textContent = ""; return; }
    var tend = k.parseMoney(tv);
    var rounded = a === due() ? roundCash(a) : a;
    out.textContent = isNaN(tend) || tend < rounded ? "" : t("pay.change", { change: money(tend - rounded) });
  }

  function submitPay(ev) {
    ev.preventDefault();
    var form = $("pay-form"); $("pay-error").hidden = true;
    var amount = k.parseMoney($("pay-amount").value);
    if (isNaN(amount) || amount <= 0) { return k.showFieldError(form, { field: "amount", message: t("err.amount") }); }
    var body = { method: pay.method, amount: amount };
    if (pay.method === "cash" && $("pay-tendered").value.trim() !== "") {
      var tend = k.parseMoney($("pay-tendered").value);
      if (isNaN(tend)) { return k.showFieldError(form, { field: "tendered", message: t("err.amount") }); }
      if (tend < (amount === due() ? roundCash(amount) : amount)) { return k.showFieldError(form, { field: "tendered", message: t("err.tendered") }); }
      body.tendered = tend;
    }
    if (pay.info.cashier_confirms) {
      if (!$("pay-confirmed").checked) { return k.showFieldError(form, { field: "confirmed", message: t("err.confirm") }); }
      body.confirmed = true;
    }
    $("pay-start").disabled = true;
    ensureSale().then(function (s) {
      return k.api("POST", "/v1/sales/" + enc(s.id) + "/payments", body);
    }).then(function (p) {
      hide($("pay-form"), true); hide($("pay-progress"), false);
      showPayment(p);
      if (isOpen(p.state)) { follow(p); } else { finish(p); }
      $("pay-cancel").focus();
    }, function (err) {
      if (err && err.field && err.field.indexOf("lines") === 0) { $("pay-dialog").close(); return; }
      k.showFieldError(form, err, $("pay-error"));
    }).then(function () { $("pay-start").disabled = false; });
  }

  function isOpen(state) { return ["created", "pending", "authorized", "unknown"].indexOf(state) >= 0; }

  function follow(p) {
    if (pay.stop) { pay.stop(); }
    pay.stop = k.events("/v1/payments/" + enc(p.id) + "/events", function (name, data) {
      if (name === "payment" && data.payment) {
        showPayment(data.payment);
        if (!isOpen(data.payment.state)) { finish(data.payment); }
      }
      if (name === "end" && pay.payment && !isOpen(pay.payment.state)) { finish(pay.payment); }
    });
  }

  function showPayment(p) {
    pay.payment = p;
    var st = $("pay-state");
    st.textContent = t("pay.state." + p.state);
    st.className = "pay-state state-" + p.state;
    $("pay-message").textContent = p.message || (p.action && p.action.message) || "";
    var qr = $("pay-qr"), open = isOpen(p.state);
    if (open && p.action && p.action.qr_svg_url) {
      var u = new URL(p.action.qr_svg_url, location.href);
      var src = u.pathname + u.search;
      if (qr.getAttribute("src") !== src) { qr.src = src; }
      qr.alt = t("pay.qr"); qr.hidden = false;
    } else if (open && p.action && p.action.type === "scan_till_qr") {
      qr.src = "/v1/tills/" + enc(tillID) + "/mobilepay/qr.svg"; qr.alt = t("pay.tillqr"); qr.hidden = false;
    } else { qr.hidden = true; qr.removeAttribute("src"); }
    var extra = [];
    if (p.tip) { extra.push(t("pay.tip", { tip: money(p.tip) })); }
    if (p.change) { extra.push(t("pay.change", { change: money(p.change) })); }
    $("pay-extra").textContent = extra.join(" · ");
    hide($("pay-cancel"), !open);
    hide($("pay-done"), open);
    renderSandbox(p);
  }

  function renderSandbox(p) {
    var box = $("pay-sandbox");
    var acts = sandbox && isOpen(p.state) && p.state !== "unknown" && p.method !== "cash" && p.method !== "swish_manual";
    box.hidden = !acts;
    // Built once per payment: a later event must not wipe what was typed.
    if (!acts || box.dataset.payment === p.id) { return; }
    clear(box); box.dataset.payment = p.id;
    box.appendChild(el("h3", { text: t("sb.title") }));
    var tip = null, sc = null;
    if (p.method === "card") {
      box.appendChild(el("label", { for: "sb-tip", text: t("sb.tip") }));
      tip = el("input", { id: "sb-tip", name: "tip", "data-field": "tip", inputmode: "decimal", autocomplete: "off" });
      box.appendChild(tip);
      box.appendChild(el("label", { for: "sb-scenario", text: t("sb.scenario") }));
      sc = el("select", { id: "sb-scenario" });
      [["", "sb.sc.approve"], ["insufficient_funds", "sb.sc.insufficient"], ["wrong_pin", "sb.sc.wrongpin"], ["approve_signature", "sb.sc.signature"]].forEach(function (o) { sc.appendChild(el("option", { value: o[0], text: t(o[1]) })); });
      box.appendChild(sc);
    }
    var row = el("div", { class: "actions" });
    ["approve", "decline", "cancel", "timeout"].forEach(function (a) {
      var b = el("button", { type: "button", class: "secondary", id: "sb-" + a, text: t("sb." + a) });
      b.addEventListener("click", function () {
        var body = null;
        if (a === "approve" && tip) {
          body = {};
          if (tip.value.trim()) { var tv = k.parseMoney(tip.value); if (isNaN(tv) || tv < 0) { return k.showFieldError(box, { field: "tip", message: t("err.amount") }); } body.tip = tv; }
          if (sc.value) { body.scenario = sc.value; }
        }
        b.disabled = true;
        k.api("POST", "/v1/sandbox/payments/" + enc(p.id) + "/" + a, body).then(function (np) {
          if (np && pay.payment && np.id === pay.payment.id) { showPayment(np); if (!isOpen(np.state)) { finish(np); } }
        }, function (err) { k.showFieldError(box, err, $("pay-message")); b.disabled = false; });
      });
      row.appendChild(b);
    });
    box.appendChild(row);
    if (p.method === "card") {
      box.appendChild(el("a", { href: "/ui/terminal/screen", target: "_blank", rel: "noopener", text: t("sb.terminal") }));
    }
  }

  function cancelPayment() {
    if (!pay.payment) { return; }
    $("pay-cancel").disabled = true;
    k.api("POST", "/v1/payments/" + enc(pay.payment.id) + "/cancel").then(function (p) {
      showPayment(p); if (!isOpen(p.state)) { finish(p); }
    }, function (err) { showError($("pay-message"), err); }).then(function () { $("pay-cancel").disabled = false; });
  }

  // finish acts once on a payment that has ended: a paid sale is completed
  // and its receipt shown; otherwise the sale stays open for another try.
  function finish(p) {
    if (pay.finished) { return; }
    pay.finished = true;
    if (pay.stop) { pay.stop(); pay.stop = null; }
    var note = p.change ? t("pay.change", { change: money(p.change) }) : "";
    refreshSale().then(function (s) {
      if (p.state === "paid" && !p.attention && s && s.due === 0) {
        $("pay-state").textContent = t("pay.completing");
        return k.api("POST", "/v1/sales/" + enc(s.id) + "/complete").then(function (rc) {
          $("pay-dialog").close();
          sale = null; saleSig = ""; basket = []; renderBasket();
          showReceipt(rc, note);
        });
      }
      if (p.state === "paid" && s) {
        $("pay-extra").textContent = [$("pay-extra").textContent, t("pay.rest", { due: money(s.due) })].filter(Boolean).join(" · ");
      } else if (p.state !== "unknown") {
        $("pay-extra").textContent = t("pay.retry");
      }
      $("pay-done").focus();
    }).catch(function (err) { showError($("pay-message"), err); $("pay-done").hidden = false; });
  }

  // ---- Receipts ----

  var shown = null; // the receipt in the receipt dialog

  function rawText(method, path) {
    var h = { "Accept": "text/plain" };
    if (method !== "GET") { h["X-CSRF-Token"] = (document.querySelector('meta[name="kvitt-csrf"]') || {}).content || ""; h["Idempotency-Key"] = k.newKey(); }
    return fetch(path, { method: method, headers: h, credentials: "same-origin" }).then(function (res) {
      return res.text().then(function (body) {
        if (!res.ok) { var e = null; try { e = JSON.parse(body); } catch (x) { e = null; } throw new k.ApiError(res.status, e); }
        return body;
      });
    }, function () { throw new k.ApiError(0, null); });
  }

  function remember(rc) {
    if (rc.kind === "return" || rc.type === "copy") { return; }
    var key = "kvitt.till." + tillID + ".receipts", list = [];
    try { list = JSON.parse(localStorage.getItem(key) || "[]"); } catch (e) { list = []; }
    list = list.filter(function (x) { return x.id !== rc.id; });
    list.unshift({ id: rc.id, serial: rc.serial, total: rc.total, currency: rc.currency, issued: rc.issued });
    try { localStorage.setItem(key, JSON.stringify(list.slice(0, 20))); } catch (e) { /* full */ }
  }
  function recent() { try { return JSON.parse(localStorage.getItem("kvitt.till." + tillID + ".receipts") || "[]"); } catch (e) { return []; } }

  function showReceipt(rc, note) {
    shown = rc;
    remember(rc);
    var d = $("receipt-dialog");
    $("receipt-title").textContent = t("rc.title") + " " + rc.serial;
    $("receipt-error").hidden = true;
    var notes = [];
    if (note) { notes.push(note); }
    if (rc.registration === "pending") { notes.push(t("rc.pending")); }
    if (rc.merchant_copy_required) { notes.push(t("rc.merchant")); }
    $("receipt-note").textContent = notes.join(" ");
    $("receipt-note").hidden = notes.length === 0;
    $("receipt-text").textContent = "…";
    $("receipt-copy").disabled = rc.type === "copy";
    $("merchant-text").hidden = true;
    if (!d.open) { d.showModal(); }
    rawText("GET", "/v1/receipts/" + enc(rc.id) + "?format=text&width=42").then(function (txt) {
      $("receipt-text").textContent = txt;
      $("receipt-text").setAttribute("data-receipt", rc.id);
    }, function (err) { showError($("receipt-error"), err); });
    if (rc.merchant_copy_required) {
      rawText("GET", "/v1/receipts/" + enc(rc.id) + "/merchant-copy?width=42").then(function (txt) { $("merchant-text").textContent = txt; $("merchant-text").hidden = false; }, function () {});
    }
    $("receipt-print").focus();
  }

  function copyReceipt() {
    if (!shown) { return; }
    $("receipt-copy").disabled = true;
    k.api("POST", "/v1/receipts/" + enc(shown.id) + "/copy").then(function (rc) {
      showReceipt(rc, t("rc.copydone"));
    }, function (err) { showError($("receipt-error"), err); $("receipt-copy").disabled = false; });
  }

  // ---- Returns ----

  var ret = { receipt: null, sale: null, refund: null, stop: null };

  function openReturn() {
    ret = { receipt: null, sale: null, refund: null, stop: null };
    $("return-title").textContent = t("ret.title");
    document.querySelector('label[for="return-receipt"]').textContent = t("ret.receipt");
    $("return-load").textContent = t("ret.find");
    $("return-recent-h").textContent = t("ret.recent");
    $("return-form").hidden = true; $("return-error").hidden = true; $("return-state").textContent = ""; $("return-sandbox").hidden = true;
    $("return-receipt").value = "";
    var ul = $("return-recent"); clear(ul);
    var list = recent();
    if (!list.length) { ul.appendChild(el("li", { class: "hint", text: t("ret.none") })); }
    list.forEach(function (r) {
      var b = el("button", { type: "button", class: "link", text: "#" + r.serial + " · " + k.money(r.total, r.currency) + " · " + (r.issued ? new Date(r.issued).toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "sv-SE", { dateStyle: "short", timeStyle: "short" }) : "") });
      b.addEventListener("click", function () { $("return-receipt").value = r.id; loadReturn(r.id); });
      ul.appendChild(el("li", {}, [b]));
    });
    $("return-dialog").showModal();
    $("return-receipt").focus();
  }

  function loadReturn(id) {
    $("return-error").hidden = true;
    k.api("GET", "/v1/receipts/" + enc(id.trim())).then(function (rc) {
      ret.receipt = rc;
      return k.api("GET", "/v1/sales/" + enc(rc.sale_id));
    }).then(function (s) {
      ret.sale = s;
      var box = $("return-lines"); clear(box);
      s.lines.forEach(function (l, i) {
        var id2 = "ret-q" + i;
        box.appendChild(el("label", { for: id2, text: t("ret.qty", { name: l.name, sold: String(l.quantity).replace(".", ",") }) }));
        var inp = el("input", { id: id2, "data-field": "lines[" + i + "].quantity", "data-line": String(i), inputmode: "decimal", autocomplete: "off" });
        inp.value = "0";
        box.appendChild(inp);
      });
      var fs = $("return-payments"); clear(fs);
      fs.appendChild(el("legend", { text: t("ret.payment") }));
      var first = true;
      (s.payments || []).filter(function (p) { return p.refundable > 0 && !p.attention; }).forEach(function (p) {
        var rid = "ret-pay-" + p.id;
        var r = el("input", { type: "radio", name: "ret-payment", id: rid, value: p.id });
        if (first) { r.checked = true; first = false; }
        fs.appendChild(el("label", { for: rid, class: "check" }, [r, el("span", { text: methodName(p.method) + " " + money(p.amount + (p.tip || 0)) + " (" + money(p.refundable) + ")" })]));
      });
      $("return-submit").textContent = t("ret.submit");
      $("return-form").hidden = false;
      var q0 = $("ret-q0"); if (q0) { q0.focus(); q0.select(); }
    }).catch(function (err) { k.showFieldError($("return-find"), err, $("return-error")); });
  }

  function submitReturn(ev) {
    ev.preventDefault();
    var form = $("return-form"), lines = [], bad = false;
    form.querySelectorAll("input[data-line]").forEach(function (inp) {
      if (bad) { return; }
      var q = inp.value.trim() === "" ? 0 : parseQty(inp.value);
      if (isNaN(q)) { bad = true; k.showFieldError(form, { field: inp.getAttribute("data-field"), message: t("err.qty") }); return; }
      if (q > 0) { lines.push({ line: parseInt(inp.getAttribute("data-line"), 10), quantity: q / 1000 }); }
    });
    if (bad) { return; }
    if (!lines.length) { return showError($("return-error"), { message: t("ret.nothing") }); }
    var chosen = form.querySelector('input[name="ret-payment"]:checked');
    if (!chosen) { return; }
    $("return-submit").disabled = true;
    k.api("POST", "/v1/payments/" + enc(chosen.value) + "/refunds", { lines: lines }).then(function (r) {
      showRefund(r);
      if (r.state === "pending" || r.state === "created" || r.state === "unknown") {
        ret.stop = k.events("/v1/refunds/" + enc(r.id) + "/events", function (name, data) { if (name === "refund") { showRefund(data); } });
      }
    }, function (err) { k.showFieldError(form, err, $("return-error")); }).then(function () { $("return-submit").disabled = false; });
  }

  function showRefund(r) {
    ret.refund = r;
    $("return-state").textContent = (t("ret.state." + r.state) || r.state) + (r.message ? ": " + r.message : "");
    var box = $("return-sandbox"); clear(box);
    var waiting = r.state === "pending" || r.state === "created";
    box.hidden = !(sandbox && waiting);
    if (sandbox && waiting) {
      var b = el("button", { type: "button", class: "secondary", id: "sb-refund-approve", text: t("sb.refund") });
      b.addEventListener("click", function () {
        k.api("POST", "/v1/sandbox/refunds/" + enc(r.id) + "/approve").then(showRefund, function (err) { showError($("return-error"), err); });
      });
      box.appendChild(b);
    }
    if (r.state === "succeeded" && r.receipt_id && !ret.shownReceipt) {
      ret.shownReceipt = true;
      if (ret.stop) { ret.stop(); }
      k.api("GET", "/v1/receipts/" + enc(r.receipt_id)).then(function (rc) {
        $("return-dialog").close();
        showReceipt(rc, r.message || "");
      }, function (err) { showError($("return-error"), err); });
    }
  }

  // ---- Reports ----

  function openReport(kind) {
    var d = $("report-dialog");
    $("report-title").textContent = t(kind === "z" ? "rep.z" : "rep.x");
    $("report-text").textContent = ""; $("report-error").hidden = true;
    $("report-confirm").hidden = true; $("report-print").hidden = true;
    d.showModal();
    if (kind === "x") { return loadReport("GET", "/v1/tills/" + enc(tillID) + "/reports/x?format=text&width=42"); }
    $("report-confirm").hidden = false;
    $("report-question").textContent = t("rep.zconfirm");
    $("report-go").textContent = t("rep.zgo");
    $("report-warning").hidden = true;
    k.api("GET", "/v1/tills/" + enc(tillID) + "/recovery").then(function (r) {
      var n = (r.items || []).length;
      if (n) { $("report-warning").textContent = t("rep.zrecovery", { n: n }); $("report-warning").hidden = false; }
    }, function () {});
    $("report-go").focus();
  }

  function loadReport(method, path) {
    rawText(method, path).then(function (txt) {
      $("report-confirm").hidden = true;
      $("report-text").textContent = txt; $("report-print").hidden = false; $("report-print").focus();
    }, function (err) { showError($("report-error"), err); });
  }

  // ---- Recovery ----

  function loadRecovery(openIfAny) {
    return k.api("GET", "/v1/tills/" + enc(tillID) + "/recovery").then(function (r) {
      var items = r.items || [];
      var c = $("recovery-count");
      c.textContent = items.length ? String(items.length) : ""; c.hidden = !items.length;
      if (items.length && openIfAny) { openRecovery(items); }
      return items;
    }, function () { return []; });
  }

  function openRecovery(items) {
    var d = $("recovery-dialog");
    $("recovery-title").textContent = t("rec.title");
    $("recovery-error").hidden = true;
    var box = $("recovery-items"); clear(box);
    if (!items.length) { box.appendChild(el("p", { text: t("rec.none") })); }
    items.forEach(function (it, i) { box.appendChild(recoveryItem(it, i)); });
    if (!d.open) { d.showModal(); }
    var first = box.querySelector("button, select, input"); (first || $("recovery-close")).focus();
  }

  function recoveryItem(it, i) {
    var p = it.payment, r = it.refund, rc = it.receipt, s = it.sale || {};
    var div = el("div", { class: "recovery-item", id: "rec-" + i });
    div.appendChild(el("p", { class: "reason", text: it.reason || "" }));
    var act = el("div", { class: "actions" });
    var done = function (promise) {
      promise.then(function (x) {
        if (x && x.serial !== undefined && x.id && x.id.indexOf("rcp_") === 0) { $("recovery-dialog").close(); showReceipt(x, t("rec.done")); loadRecovery(false); return; }
        loadRecovery(false).then(function (items) { openRecovery(items); });
      }, function (err) { k.showFieldError(div, err, $("recovery-error")); });
    };
    var btn = function (id, label, fn, cls) { var b = el("button", { type: "button", class: cls || "secondary", id: id, text: label }); b.addEventListener("click", fn); act.appendChild(b); return b; };
    if (rc && !p && !r) {
      div.appendChild(el("p", { class: "hint", text: t("rec.receipt", { serial: rc.serial }) }));
    }
    if (p) {
      div.appendChild(el("p", { class: "known", text: t("rec.known", { method: methodName(p.method), amount: money(p.amount), state: p.state, reference: p.reference || "", created: (p.created_at || "").replace("T", " ").slice(0, 19) }) }));
      if (p.error_code || p.message) { div.appendChild(el("p", { class: "hint", text: [p.error_code, p.message].filter(Boolean).join(": ") })); }
      var captured = p.state === "paid" || p.state === "partially_refunded";
      if (captured && !p.attention && s.state === "open") {
        btn("rec-complete-" + i, t("rec.complete"), function () { done(k.api("POST", "/v1/sales/" + enc(s.id) + "/complete")); }, "primary");
      }
      if (captured && p.attention) {
        btn("rec-keep-" + i, t("rec.keep"), function () { done(k.api("POST", "/v1/payments/" + enc(p.id) + "/resolve", { state: "paid", note: "kept at the till" })); });
      }
      if (captured && p.refundable > 0) {
        btn("rec-refund-" + i, t("rec.refund", { amount: money(p.refundable) }), function () { done(k.api("POST", "/v1/payments/" + enc(p.id) + "/refunds", { amount: p.refundable })); });
      }
      if (!captured) {
        resolveForm(div, act, i, ["paid", "failed", "declined", "cancelled"], function (state, note) { done(k.api("POST", "/v1/payments/" + enc(p.id) + "/resolve", { state: state, note: note })); });
        if (p.state !== "unknown") { btn("rec-cancel-" + i, t("rec.cancel"), function () { done(k.api("POST", "/v1/payments/" + enc(p.id) + "/cancel")); }); }
      }
    } else if (r) {
      div.appendChild(el("p", { class: "known", text: money(r.amount) + " · " + r.state + " · " + (r.reference || "") }));
      resolveForm(div, act, i, ["succeeded", "failed"], function (state, note) { done(k.api("POST", "/v1/refunds/" + enc(r.id) + "/resolve", { state: state, note: note })); });
    }
    div.appendChild(act);
    return div;
  }

  function resolveForm(div, act, i, states, fn) {
    var sel = el("select", { id: "rec-state-" + i, "data-field": "state" });
    states.forEach(function (s) { sel.appendChild(el("option", { value: s, text: s })); });
    var note = el("input", { id: "rec-note-" + i, "data-field": "note", autocomplete: "off" });
    div.appendChild(el("label", { for: sel.id, text: t("rec.resolve") }));
    div.appendChild(sel);
    div.appendChild(el("label", { for: note.id, text: t("rec.note") }));
    div.appendChild(note);
    var b = el("button", { type: "button", class: "secondary", id: "rec-set-" + i, text: t("rec.set") });
    b.addEventListener("click", function () { fn(sel.value, note.value); });
    act.appendChild(b);
  }

  // ---- Start ----

  function search(ev) {
    ev.preventDefault();
    var q = $("search").value.trim(), ql = q.toLowerCase();
    if (!q) {
      if (basket.length && till.methods.length) { openPay(till.methods[0].method); }
      return;
    }
    var exact = articles.filter(function (a) { return a.article_number && a.article_number === q; });
    var matches = exact.length ? exact : articles.filter(function (a) { return a.name.toLowerCase().indexOf(ql) >= 0; });
    if (matches.length === 1) { add(matches[0]); $("search").value = ""; renderGrid(articles); return; }
    renderGrid(matches.length ? matches : articles);
    $("search-msg").textContent = matches.length ? "" : t("till.nomatch", { q: q });
  }

  function addFree(ev) {
    ev.preventDefault();
    var form = $("free-form");
    var name = $("free-name").value.trim(), price = k.parseMoney($("free-price").value);
    if (!name) { return k.showFieldError(form, { field: "free-name", message: t("err.name") }); }
    if (isNaN(price) || price < 0) { return k.showFieldError(form, { field: "free-price", message: t("err.price") }); }
    form.querySelectorAll(".field-error").forEach(function (n) { n.remove(); });
    add({ name: name, price: price, vat_rate: $("free-vat").value, free: true });
    $("free-name").value = ""; $("free-price").value = "";
    $("free-name").focus();
  }

  function start() {
    $("search-form").addEventListener("submit", search);
    $("search").addEventListener("input", function () { if (!$("search").value) { renderGrid(articles); } });
    $("free-form").addEventListener("submit", addFree);
    $("basket-form").addEventListener("submit", function (e) { e.preventDefault(); });
    $("pay-form").addEventListener("submit", submitPay);
    $("pay-close").addEventListener("click", function () { $("pay-dialog").close(); });
    $("pay-cancel").addEventListener("click", cancelPayment);
    $("pay-done").addEventListener("click", function () { $("pay-dialog").close(); });
    $("pay-dialog").addEventListener("cancel", function (e) {
      if (pay.payment && isOpen(pay.payment.state)) { e.preventDefault(); cancelPayment(); }
    });
    $("pay-dialog").addEventListener("close", function () {
      if (pay.stop) { pay.stop(); pay.stop = null; }
      renderBasket();
      var first = document.querySelector("#methods button"); (first || $("search")).focus();
    });
    $("receipt-print").addEventListener("click", function () { document.body.classList.add("printing-receipt"); window.print(); document.body.classList.remove("printing-receipt"); });
    $("receipt-copy").addEventListener("click", copyReceipt);
    $("receipt-close").addEventListener("click", function () { $("receipt-dialog").close(); });
    $("receipt-dialog").addEventListener("close", function () { $("search").focus(); });
    $("new-sale").addEventListener("click", newSale);
    $("open-return").addEventListener("click", openReturn);
    $("return-find").addEventListener("submit", function (e) { e.preventDefault(); if ($("return-receipt").value.trim()) { loadReturn($("return-receipt").value); } });
    $("return-form").addEventListener("submit", submitReturn);
    $("return-close").addEventListener("click", function () { $("return-dialog").close(); });
    $("return-dialog").addEventListener("close", function () { if (ret.stop) { ret.stop(); } });
    $("open-x").addEventListener("click", function () { openReport("x"); });
    $("open-z").addEventListener("click", function () { openReport("z"); });
    $("report-go").addEventListener("click", function () { loadReport("POST", "/v1/tills/" + enc(tillID) + "/reports/z?format=text&width=42"); });
    $("report-print").addEventListener("click", function () { window.print(); });
    $("report-close").addEventListener("click", function () { $("report-dialog").close(); });
    $("open-recovery").addEventListener("click", function () { loadRecovery(false).then(openRecovery); });
    $("recovery-close").addEventListener("click", function () { $("recovery-dialog").close(); });

    Promise.all([k.api("GET", "/v1/tills/" + enc(tillID)), k.api("GET", "/v1/tills/" + enc(tillID) + "/articles")]).then(function (r) {
      till = r[0]; articles = r[1].articles || [];
      if (!till.vat_rates || !till.vat_rates.length) { till.vat_rates = ["25", "12", "6", "0"]; }
      till.vat_rates = till.vat_rates.map(String);
      var fv = $("free-vat"); clear(fv);
      till.vat_rates.forEach(function (r2) { fv.appendChild(el("option", { value: r2, text: r2.replace(".", ",") + " %" })); });
      var box = $("methods"); clear(box);
      (till.methods || []).forEach(function (m, i) {
        var b = el("button", { type: "button", class: i === 0 ? "primary method" : "primary method alt", id: "pay-" + m.method, "data-method": m.method, text: methodName(m.method) });
        b.addEventListener("click", function () { openPay(m.method); });
        box.appendChild(b);
      });
      renderGrid(articles);
      renderBasket();
      document.body.dataset.ready = "true";
      $("search").focus();
      loadRecovery(true);
    }, function (err) { showError($("basket-error"), err); });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
