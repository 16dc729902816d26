// kvitt's back office (/admin/…): every section reads and changes its data
// through the JSON API with the session (kvitt.api), so the API's rules
// are the only rules. Data is written with textContent (kvitt.el), never
// as HTML. See docs/backoffice.md.
(function () {
  "use strict";
  var k = window.kvitt, t = k.t, el = k.el;
  var main = document.getElementById("admin");
  if (!main) { return; }
  var section = main.dataset.section;
  var sandbox = document.body.dataset.sandbox === "true";
  var lang = document.body.dataset.lang === "en" ? "en-GB" : "sv-SE";

  function $(id) { return document.getElementById(id); }
  function status(msg) { $("adm-status").textContent = msg || ""; }
  function showError(err) {
    var box = $("adm-error");
    if (!err) { box.hidden = true; box.textContent = ""; return; }
    box.textContent = err.message || String(err); box.hidden = false;
  }
  function fail(form, fallback) {
    return function (err) {
      status("");
      if (form) { k.showFieldError(form, err, fallback || $("adm-error")); } else { showError(err); }
    };
  }
  function clearErrors(form) {
    showError(null);
    if (!form) { return; }
    form.querySelectorAll(".field-error").forEach(function (n) { n.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); n.removeAttribute("aria-describedby"); });
  }
  function when(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    try { return d.toLocaleString(lang, { dateStyle: "short", timeStyle: "short" }); } catch (e) { return d.toISOString(); }
  }
  function label(prefix, v) { var key = prefix + v; var s = t(key); return s === key ? v : s; }
  function button(text, cls, onClick, attrs) {
    var b = el("button", Object.assign({ type: "button", "class": cls || "secondary small" }, attrs || {}), [text]);
    b.addEventListener("click", onClick);
    return b;
  }
  function td(children, cls) { return el("td", cls ? { "class": cls } : {}, children); }
  function clear(n) { while (n.firstChild) { n.removeChild(n.firstChild); } }
  function enc(s) { return encodeURIComponent(s); }

  // getText reads a text answer (a receipt or report to print).
  function getText(path) {
    return fetch(path, { credentials: "same-origin", headers: { "Accept": "text/plain" } }).then(function (res) {
      return res.text().then(function (text) {
        if (!res.ok) {
          var body = null; try { body = JSON.parse(text); } catch (e) { body = null; }
          throw new k.ApiError(res.status, body);
        }
        return text;
      });
    }, function () { throw new k.ApiError(0, null); });
  }

  // copy puts text on the clipboard (or selects it when the browser will not).
  function copy(text, input) {
    function done() { status(t("a.copied")); }
    function fallback() {
      var i = input || el("input", { value: text });
      if (!input) { document.body.appendChild(i); }
      i.select();
      try { document.execCommand("copy"); } catch (e) { /* selected: the user copies */ }
      if (!input) { i.remove(); }
      done();
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else { fallback(); }
  }

  // The tills, for every select of a till.
  var tills = [];
  function loadTills() {
    return k.api("GET", "/v1/tills").then(function (r) { tills = r.tills || []; return tills; });
  }
  // fillTillSelect lists the tills in a select, after its "all" option if the page wrote one.
  function fillTillSelect(sel) {
    if (!sel) { return; }
    var keep = sel.value;
    Array.prototype.slice.call(sel.options).forEach(function (o) { if (o.value !== "") { o.remove(); } });
    tills.forEach(function (tl) { sel.appendChild(el("option", { value: tl.id }, [tl.id + (tl.name ? " – " + tl.name : "")])); });
    if (keep) { sel.value = keep; }
  }

  // The panel showing a receipt or report as printed.
  function showText(panel, titleEl, title, pre, text) {
    titleEl.textContent = title;
    pre.textContent = text;
    panel.hidden = false;
    panel.focus();
  }
  function showReceipt(id, title) {
    status(t("a.loading"));
    getText("/v1/receipts/" + enc(id) + "?format=text").then(function (text) {
      status("");
      showText($("receipt-panel"), $("receipt-title"), title || t("a.receipt"), $("receipt-text"), text);
    }, fail());
  }

  // Lists: payments, refunds, receipts, with filters in the URL.
  function listSection() {
    var form = $("filters"), rows = $("rows"), more = $("more");
    var params = new URLSearchParams(location.search);
    Array.prototype.forEach.call(form.elements, function (f) { if (f.name && params.get(f.name)) { f.value = params.get(f.name); } });
    var after = "";
    $("receipt-close").addEventListener("click", function () { $("receipt-panel").hidden = true; $("f-q").focus(); });

    function query() {
      var q = new URLSearchParams();
      Array.prototype.forEach.call(form.elements, function (f) { if (f.name && f.value.trim()) { q.set(f.name, f.value.trim()); } });
      return q;
    }
    function load(reset) {
      var q = query();
      if (reset) {
        after = "";
        history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q.toString() : ""));
      }
      q.set("limit", "50");
      if (after) { q.set("after", after); }
      clearErrors(form);
      status(t("a.loading"));
      return k.api("GET", "/v1/" + section + "?" + q.toString()).then(function (r) {
        if (reset) { clear(rows); }
        var items = r[section] || [];
        items.forEach(function (x) { rows.appendChild(row(x)); });
        after = r.next_after || "";
        more.hidden = !after;
        $("empty").hidden = rows.children.length > 0;
        status(t("a.count", { n: rows.children.length }));
      }, fail(form));
    }
    function idCell(id, ref) {
      var c = [el("code", { text: id })];
      if (ref) { c.push(el("br"), el("small", { "class": "hint", text: ref })); }
      return td(c);
    }
    function row(x) {
      var tr;
      if (section === "payments") {
        var amount = k.money(x.amount, x.currency) + (x.tip ? " + " + k.money(x.tip, x.currency) : "");
        tr = el("tr", { "data-id": x.id }, [td([when(x.created_at)]), td([x.till_id]), td([label("method.", x.method)]), td([amount], "num"),
          td([el("span", { "class": "st st-" + x.state, text: label("state.", x.state) })]), idCell(x.id, x.reference),
          td([button(t("a.receipt"), null, function () {
            k.api("GET", "/v1/sales/" + enc(x.sale_id)).then(function (s) {
              if (!s.receipt_id) { status(t("a.noreceipt")); return; }
              showReceipt(s.receipt_id);
            }, fail());
          }, { "aria-label": t("a.receipt") + " " + x.id })])]);
      } else if (section === "refunds") {
        tr = el("tr", { "data-id": x.id }, [td([when(x.created_at)]), td([x.till_id]), td([label("method.", x.method)]), td([k.money(x.amount, x.currency)], "num"),
          td([el("span", { "class": "st st-" + x.state, text: label("state.", x.state) })]), idCell(x.id, x.payment_id + (x.reference ? " · " + x.reference : "")),
          td(x.receipt_id ? [button(t("a.receipt"), null, function () { showReceipt(x.receipt_id); }, { "aria-label": t("a.receipt") + " " + x.id })] : [])]);
      } else {
        var title = t("a.receiptof", { serial: x.serial, till: x.till_id });
        tr = el("tr", { "data-id": x.id }, [td([when(x.issued)]), td([x.till_id]), td([String(x.serial)], "num"),
          td([label("a.kind.", x.kind) + (x.type && x.type !== "normal" ? " (" + x.type + ")" : "")]), td([k.money(x.total, x.currency)], "num"),
          td([label("a.", x.registration)]),
          td([button(t("a.show"), "secondary small show-receipt", function () { showReceipt(x.id, title); }, { "aria-label": t("a.show") + " " + title })])]);
      }
      return tr;
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(true); });
    more.addEventListener("click", function () { load(false); });
    loadTills().then(function () {
      fillTillSelect($("f-till"));
      if (params.get("till")) { $("f-till").value = params.get("till"); }
      load(true);
    }, function (err) { showError(err); load(true); });
  }

  // Orders (Svea Instore): status icons, the link to copy while waiting, actions.
  function ordersSection() {
    var form = $("filters"), rows = $("rows");
    var params = new URLSearchParams(location.search);
    if (params.get("state")) { $("f-state").value = params.get("state"); }
    if (params.get("q")) { $("f-q").value = params.get("q"); }
    var crediting = null;

    function load() {
      var q = new URLSearchParams();
      if ($("f-state").value) { q.set("state", $("f-state").value); }
      if ($("f-q").value.trim()) { q.set("q", $("f-q").value.trim()); }
      history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q.toString() : ""));
      clearErrors(form);
      return k.api("GET", "/v1/orders?" + q.toString()).then(function (r) {
        clear(rows);
        (r.orders || []).forEach(function (o) { rows.appendChild(orderRow(o)); });
        $("empty").hidden = rows.children.length > 0;
      }, fail(form));
    }
    function act(o, path, body) {
      clearErrors(null);
      status(t("a.loading"));
      return k.api("POST", "/v1/" + path, body || null).then(function () { status(t("a.done")); return load(); }, fail());
    }
    function orderRow(o) {
      var icon = el("span", { "class": "oi oi-" + o.icon, "aria-hidden": "true" });
      var stateCell = td([icon, el("span", { "class": "oi-label", text: label("order.", o.state) })]);
      var linkCell = [];
      var waiting = o.state === "awaiting_payment" || o.state === "creating";
      if (waiting && o.link && o.link.url) {
        var a = el("a", { href: o.link.url, "class": "order-link", target: "_blank", rel: "noopener noreferrer", text: o.link.url });
        linkCell.push(a, " ", button(t("a.copy"), "secondary small copy-link", function () { copy(o.link.url); }, { "aria-label": t("a.copy") + " " + o.number }));
        linkCell.push(el("br"), el("small", { "class": "hint", text: o.link.sms_sent ? t("a.smssent") : t("a.smsnot") }));
      } else if (o.reference) {
        linkCell.push(el("code", { "class": "order-ref", text: o.reference }));
      }
      if (o.message) { linkCell.push(el("br"), el("small", { "class": o.icon === "red" ? "error" : "hint", text: o.message })); }
      if (o.attention) { linkCell.push(el("br"), el("strong", { "class": "error", text: o.attention })); }
      var acts = [];
      if (o.state === "awaiting_payment" || o.state === "link_failed" || o.state === "creating") {
        acts.push(el("a", { "class": "button small", href: "/admin/orders/new?change=" + enc(o.id), "aria-label": t("a.change") + " " + o.number, text: t("a.change") }));
        acts.push(button(t("a.cancel"), "secondary small", function () { act(o, "orders/" + enc(o.id) + "/cancel"); }, { "aria-label": t("a.cancel") + " " + o.number }));
      }
      if (o.state === "paid") {
        acts.push(button(t("a.credit"), "secondary small", function () { crediting = o; $("credit-title").textContent = t("a.credit") + " " + o.number; $("credit-panel").hidden = false; $("c-amount").focus(); }, { "aria-label": t("a.credit") + " " + o.number }));
      }
      acts.push(button(t("a.sync"), "secondary small", function () { act(o, "orders/" + enc(o.id) + "/sync"); }, { "aria-label": t("a.sync") + " " + o.number }));
      if (sandbox && o.state === "awaiting_payment") {
        [["approve", "a.approve"], ["cancel", "a.abandon"], ["timeout", "a.timeout"]].forEach(function (a) {
          acts.push(button(t(a[1]), "secondary small sandbox-act sandbox-" + a[0], function () { act(o, "sandbox/orders/" + enc(o.id) + "/" + a[0]); }, { "aria-label": t(a[1]) + " " + o.number }));
        });
      }
      var who = [o.customer.name || "", o.customer.mobile_number || ""].filter(Boolean).join(", ");
      return el("tr", { "data-id": o.id, "data-number": o.number, "data-state": o.state, "data-icon": o.icon }, [stateCell, td([o.number]), td([who]),
        td([k.money(o.total, o.currency) + (o.credited ? " (−" + k.money(o.credited, o.currency) + ")" : "")], "num"), td(linkCell), td([el("div", { "class": "acts" }, acts)])]);
    }
    var cform = $("credit-form");
    function closeCredit() { $("credit-panel").hidden = true; crediting = null; clearErrors(cform); }
    $("credit-close").addEventListener("click", closeCredit);
    cform.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!crediting) { return; }
      clearErrors(cform);
      var amount = k.parseMoney($("c-amount").value);
      var body = { amount: isNaN(amount) ? $("c-amount").value : amount, vat_rate: num($("c-vat").value), name: "Kreditering" };
      k.api("POST", "/v1/orders/" + enc(crediting.id) + "/credits", body).then(function () { closeCredit(); status(t("a.done")); load(); }, fail(cform, $("credit-error")));
    });
    $("credit-all").addEventListener("click", function () {
      if (!crediting) { return; }
      var body = { lines: crediting.lines.map(function (l) { return { row_number: l.row_number }; }) };
      k.api("POST", "/v1/orders/" + enc(crediting.id) + "/credits", body).then(function () { closeCredit(); status(t("a.done")); load(); }, fail(cform, $("credit-error")));
    });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    load();
  }

  // num sends a number typed with a comma or point as a JSON number, and
  // anything else as typed, for the API to name the field.
  function num(v) {
    v = String(v).trim().replace(",", ".");
    if (v === "") { return undefined; }
    return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }

  // A new order, or a change of one (?change=ord_…).
  function newOrderSection() {
    var form = $("order-form"), box = $("o-lines");
    var changing = new URLSearchParams(location.search).get("change");
    var fieldsOf = [["article_number", "a.article", "text"], ["name", "a.linename", "text"], ["quantity", "a.qty", "decimal"],
      ["unit_price", "a.price", "decimal"], ["discount_percent", "a.discount", "decimal"], ["vat_rate", "a.vat", "decimal"], ["unit", "a.unit", "text"]];
    function addLine(l) {
      l = l || {};
      var fs = el("fieldset", { "class": "oline" });
      fs.appendChild(el("legend"));
      var grid = el("div", { "class": "grid" });
      fieldsOf.forEach(function (f) {
        var input = el("input", { "class": "lf-" + f[0], autocomplete: "off" });
        if (f[2] === "decimal") { input.setAttribute("inputmode", "decimal"); }
        var v = l[f[0]];
        if (f[0] === "unit_price" && v !== undefined) { v = (v / 100).toFixed(2).replace(".", lang === "sv-SE" ? "," : "."); }
        if (f[0] === "vat_rate" && v === undefined && !l.name) { v = 25; }
        if (v !== undefined && v !== null) { input.value = String(v); }
        grid.appendChild(el("div", { "class": "fld" }, [el("label", { "data-for": f[0] }, [t(f[1])]), input]));
      });
      fs.appendChild(grid);
      fs.appendChild(button(t("a.remove"), "link remove-line", function () { fs.remove(); renumber(); }));
      box.appendChild(fs);
      renumber();
    }
    // renumber gives each line its position: ids, labels and the API's field names (lines[0].vat_rate).
    function renumber() {
      Array.prototype.forEach.call(box.querySelectorAll("fieldset.oline"), function (fs, i) {
        fs.querySelector("legend").textContent = t("a.line", { n: i + 1 });
        fieldsOf.forEach(function (f) {
          var input = fs.querySelector(".lf-" + f[0]);
          input.id = "l" + i + "-" + f[0];
          input.setAttribute("data-field", "lines[" + i + "]." + f[0]);
          fs.querySelector('label[data-for="' + f[0] + '"]').setAttribute("for", input.id);
        });
        fs.querySelector(".remove-line").setAttribute("aria-label", t("a.remove") + " " + (i + 1));
      });
    }
    function body() {
      var c = {
        name: $("o-name").value.trim() || undefined, mobile_number: $("o-mobile").value.trim(), country: $("o-country").value,
        national_id: $("o-nid").value.trim() || undefined, email: $("o-email").value.trim() || undefined,
        postal_code: $("o-postal").value.trim() || undefined, company: $("o-company").checked
      };
      var lines = Array.prototype.map.call(box.querySelectorAll("fieldset.oline"), function (fs, i) {
        function v(name) { return fs.querySelector(".lf-" + name).value.trim(); }
        var price = v("unit_price"), minor = k.parseMoney(price);
        return {
          row_number: i + 1, article_number: v("article_number") || undefined, name: v("name"), quantity: num(v("quantity")),
          unit_price: price === "" ? undefined : (isNaN(minor) ? price : minor), discount_percent: num(v("discount_percent")),
          vat_rate: num(v("vat_rate")), unit: v("unit") || undefined
        };
      });
      return { customer: c, lines: lines };
    }
    $("o-addline").addEventListener("click", function () { addLine(); box.querySelector("fieldset.oline:last-of-type input").focus(); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      var b = body(), number = $("o-number").value.trim();
      var req = changing ? k.api("POST", "/v1/orders/" + enc(changing) + "/change", b) : k.api("POST", "/v1/orders", Object.assign({ number: number }, b));
      $("o-submit").disabled = true;
      req.then(function (o) {
        location.href = "/admin/orders?q=" + enc(o.number);
      }, function (err) { $("o-submit").disabled = false; fail(form, $("order-error"))(err); });
    });
    if (changing) {
      $("order-change").hidden = false;
      k.api("GET", "/v1/orders/" + enc(changing)).then(function (o) {
        $("adm-title").textContent = t("a.change") + " " + o.number;
        $("o-number").value = o.number; $("o-number").disabled = true;
        var c = o.customer || {};
        $("o-name").value = c.name || ""; $("o-mobile").value = c.mobile_number || ""; $("o-country").value = c.country || "SE";
        $("o-nid").value = c.national_id || ""; $("o-email").value = c.email || ""; $("o-postal").value = c.postal_code || "";
        $("o-company").checked = !!c.company;
        (o.lines || []).forEach(function (l) { addLine(l); });
      }, fail());
    } else {
      addLine();
    }
  }

  function pickingSection() {
    var rows = $("rows");
    k.api("GET", "/v1/picking-list").then(function (r) {
      (r.orders || []).forEach(function (o) {
        var lines = el("ul", { "class": "plain" }, (o.lines || []).map(function (l) {
          return el("li", { text: l.quantity + " " + (l.unit || "") + " × " + (l.article_number ? l.article_number + " " : "") + l.name });
        }));
        var who = [o.customer.name || "", o.customer.mobile_number || ""].filter(Boolean).join(", ");
        rows.appendChild(el("tr", { "data-id": o.id, "data-number": o.number }, [td([o.number]), td([who]), td([lines]), td([k.money(o.total, o.currency)], "num"), td([el("code", { text: o.reference || "" })])]));
      });
      $("empty").hidden = rows.children.length > 0;
    }, fail());
  }

  function reportsSection() {
    var sel = $("r-till"), panel = $("report-panel");
    function till() { return sel.value; }
    function show(title, text) { showText(panel, $("report-title"), title, $("report-text"), text); }
    $("r-x").addEventListener("click", function () {
      clearErrors($("report-form"));
      getText("/v1/tills/" + enc(till()) + "/reports/x?format=text").then(function (text) { show(t("a.xtitle", { till: till() }), text); }, fail($("report-form")));
    });
    $("r-z").addEventListener("click", function () {
      $("z-confirm-text").textContent = t("a.zsure", { till: till() });
      $("z-confirm").hidden = false;
      $("r-z-confirm").focus();
    });
    $("r-z-cancel").addEventListener("click", function () { $("z-confirm").hidden = true; $("r-z").focus(); });
    $("r-z-confirm").addEventListener("click", function () {
      $("z-confirm").hidden = true;
      clearErrors($("report-form"));
      var id = till();
      k.api("POST", "/v1/tills/" + enc(id) + "/reports/z").then(function (z) {
        $("r-serial").value = z.serial;
        return getText("/v1/tills/" + enc(id) + "/reports/z/" + z.serial + "?format=text").then(function (text) { show(t("a.ztitle", { serial: z.serial, till: id }), text); });
      }).catch(fail($("report-form")));
    });
    $("r-get").addEventListener("click", function () {
      clearErrors($("report-form"));
      var serial = $("r-serial").value.trim();
      getText("/v1/tills/" + enc(till()) + "/reports/z/" + enc(serial) + "?format=text").then(function (text) { show(t("a.ztitle", { serial: serial, till: till() }), text); }, fail($("report-form")));
    });
    loadTills().then(function () {
      fillTillSelect(sel);
      var want = new URLSearchParams(location.search).get("till");
      if (want) { sel.value = want; }
    }, fail());
  }

  function tillsSection() {
    var rows = $("rows"), form = $("pair-form");
    function render() {
      clear(rows);
      tills.forEach(function (tl) {
        var devices = [];
        if (tl.control_unit) { devices.push(t("a.controlunit") + ": " + tl.control_unit); }
        if (tl.terminal) { devices.push(t("a.terminal") + ": " + tl.terminal.poiid + (tl.terminal.tip ? " (tip)" : "")); }
        var methods = (tl.methods || []).map(function (m) { return typeof m === "string" ? m : (m.method || m.name || ""); }).filter(Boolean);
        var mp = [];
        if (tl.mobilepay_beacon_id) {
          mp.push(el("code", { "class": "beacon", text: tl.mobilepay_beacon_id }), el("br"),
            el("a", { href: "/v1/tills/" + enc(tl.id) + "/mobilepay/qr.svg", target: "_blank", rel: "noopener", text: t("a.qr") }), " ",
            button(t("a.unpair"), "secondary small", function () {
              k.api("POST", "/v1/tills/" + enc(tl.id) + "/mobilepay/unpair").then(function () { status(t("a.unpaired", { till: tl.id })); reload(); }, fail());
            }, { "aria-label": t("a.unpair") + " " + tl.id }));
        } else {
          mp.push(el("span", { "class": "hint", text: t("a.notpaired") }));
        }
        rows.appendChild(el("tr", { "data-id": tl.id }, [td([el("strong", { text: tl.id }), tl.name ? " " + tl.name : ""]), td([tl.store_id || ""]), td([tl.register_id || ""]),
          td([devices.join(", ") || t("a.none")]), td([methods.map(function (m) { return label("method.", m); }).join(", ") || t("a.none")]), td(mp)]));
      });
    }
    function reload() { return loadTills().then(function () { render(); fillTillSelect($("p-till")); }, fail()); }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      var id = $("p-till").value;
      k.api("POST", "/v1/tills/" + enc(id) + "/mobilepay/pair", { beacon_id: $("p-beacon").value.trim(), sticker: $("p-sticker").checked }).then(function () {
        $("p-beacon").value = "";
        status(t("a.paired", { till: id }));
        reload();
      }, fail(form));
    });
    reload().then(function () {
      var want = new URLSearchParams(location.search).get("till");
      if (want) { $("p-till").value = want; }
    });
  }

  function keysSection() {
    var rows = $("rows"), form = $("key-form"), scope = $("k-scope"), till = $("k-till");
    function syncTill() { var needs = scope.value === "till" || scope.value === "display"; till.disabled = !needs; }
    function load() {
      return k.api("GET", "/v1/api-keys").then(function (r) {
        clear(rows);
        (r.api_keys || []).forEach(function (key) {
          var revoked = !!key.revoked_at;
          rows.appendChild(el("tr", { "data-id": key.id }, [td([key.name || ""]), td([el("code", { text: key.id })]), td([label("scope.", key.scope)]), td([key.till_id || ""]),
            td([when(key.created_at)]),
            td(revoked ? [t("a.revoked") + " " + when(key.revoked_at)] : [button(t("a.revoke"), "secondary small", function () {
              k.api("POST", "/v1/api-keys/" + enc(key.id) + "/revoke").then(function () { status(t("a.done")); load(); }, fail());
            }, { "aria-label": t("a.revoke") + " " + (key.name || key.id) })])]));
        });
      }, fail());
    }
    scope.addEventListener("change", syncTill);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      var body = { scope: scope.value, name: $("k-name").value.trim() };
      if (!till.disabled && till.value) { body.till_id = till.value; }
      k.api("POST", "/v1/api-keys", body).then(function (key) {
        $("key-value").value = key.key;
        var row = $("display-url-row");
        row.hidden = key.scope !== "display";
        if (key.scope === "display") { $("display-url").value = location.origin + "/display/" + enc(key.till_id) + "#key=" + key.key; }
        $("key-shown").hidden = false;
        $("key-shown").focus();
        status(t("a.keycreated", { id: key.id }));
        load();
      }, fail(form));
    });
    document.querySelectorAll("button.copy").forEach(function (b) {
      b.addEventListener("click", function () { var i = $(b.dataset.copy); copy(i.value, i); });
    });
    loadTills().then(function () { fillTillSelect(till); syncTill(); }, fail());
    load();
  }

  function usersSection() {
    var rows = $("rows"), form = $("user-form");
    function tillBoxes(container, prefix, chosen) {
      tills.forEach(function (tl) {
        var id = prefix + "-" + tl.id;
        var cb = el("input", { type: "checkbox", id: id, value: tl.id, "class": "till-box" });
        cb.checked = (chosen || []).indexOf(tl.id) >= 0;
        container.appendChild(el("span", { "class": "check" }, [cb, el("label", { "for": id, text: tl.id })]));
      });
    }
    function chosen(container) {
      return Array.prototype.filter.call(container.querySelectorAll("input.till-box"), function (c) { return c.checked; }).map(function (c) { return c.value; });
    }
    function patch(u, body, f) {
      clearErrors(f || null);
      return k.api("PATCH", "/v1/users/" + enc(u.id), body).then(function () { status(t("a.done")); load(); }, fail(f || null));
    }
    function editor(u) {
      var d = el("details", { "class": "edit" }, [el("summary", { text: t("a.edit", { user: u.username }) })]);
      var f = el("form", { "class": "adm-form", novalidate: "" });
      var roleId = "role-" + u.id, pwId = "pw-" + u.id;
      var role = el("select", { id: roleId, "data-field": "role" }, ["cashier", "backoffice", "admin"].map(function (r) { return el("option", { value: r, text: label("role.", r) }); }));
      role.value = u.role;
      var boxes = el("fieldset", { "class": "fld", "data-field": "tills" }, [el("legend", { text: document.querySelector("#u-tills legend").textContent })]);
      tillBoxes(boxes, "ut-" + u.id, u.tills);
      f.appendChild(el("div", { "class": "fld" }, [el("label", { "for": roleId }, [document.querySelector('label[for="u-role"]').textContent]), role]));
      f.appendChild(boxes);
      f.appendChild(button(t("a.save"), "primary small", function () {
        patch(u, { role: role.value, tills: role.value === "cashier" ? chosen(boxes) : [] }, f);
      }));
      var pw = el("input", { id: pwId, type: "password", autocomplete: "new-password", "data-field": "password" });
      f.appendChild(el("div", { "class": "fld" }, [el("label", { "for": pwId, text: t("a.newpassword") }), pw]));
      f.appendChild(button(t("a.setpassword"), "secondary small", function () { patch(u, { password: pw.value }, f).then(function () { pw.value = ""; }); }));
      d.appendChild(f);
      return d;
    }
    function load() {
      return k.api("GET", "/v1/users").then(function (r) {
        clear(rows);
        (r.users || []).forEach(function (u) {
          var st = u.disabled ? t("a.disabled") : (u.locked_until ? t("a.locked", { t: when(u.locked_until) }) : t("a.active"));
          var acts = [editor(u)];
          acts.push(button(u.disabled ? t("a.enable") : t("a.disable"), "secondary small", function () { patch(u, { disabled: !u.disabled }); }, { "aria-label": (u.disabled ? t("a.enable") : t("a.disable")) + " " + u.username }));
          if (u.locked_until) { acts.push(button(t("a.unlock"), "secondary small", function () { patch(u, { unlock: true }); }, { "aria-label": t("a.unlock") + " " + u.username })); }
          rows.appendChild(el("tr", { "data-id": u.id, "data-username": u.username }, [td([u.username]), td([u.name || ""]), td([label("role.", u.role)]), td([(u.tills || []).join(", ")]), td([st]), td([el("div", { "class": "acts" }, acts)])]));
        });
      }, fail());
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      var role = $("u-role").value;
      var body = { username: $("u-username").value.trim(), name: $("u-name").value.trim(), role: role, password: $("u-password").value };
      if (role === "cashier") { body.tills = chosen($("u-tills")); }
      k.api("POST", "/v1/users", body).then(function (u) {
        form.reset();
        status(t("a.usercreated", { user: u.username }));
        load();
      }, fail(form));
    });
    loadTills().then(function () { tillBoxes($("u-tills"), "nt", []); load(); }, fail());
  }

  function smsSection() {
    var rows = $("rows");
    k.api("GET", "/v1/orders?limit=200").then(function (r) {
      (r.orders || []).forEach(function (o) {
        (o.links || []).slice().reverse().forEach(function (l) {
          if (!l.url) { return; }
          rows.appendChild(el("tr", { "data-id": o.id }, [td([o.number]), td([o.customer.mobile_number || ""]),
            td([el("a", { href: l.url, target: "_blank", rel: "noopener noreferrer", text: l.url })]), td([l.sms_sent ? t("a.smssent") : t("a.smsnot")])]));
        });
      });
    }, fail());
  }

  // Settings: payment methods per till, the stores' accounts, the Swish
  // certificate, the Computop and Svea set-up. Each part reads and changes
  // its data through the API route that owns it.
  function settingsSection() {
    var settings = null;
    function idOf(s) { return String(s).replace(/[^A-Za-z0-9_-]/g, "-"); }

    // Payment methods per till: offered (the till's disabled methods) and quick buttons.
    function tillForm(tl) {
      var fid = "tm-" + idOf(tl.till_id);
      var form = el("form", { "class": "adm-form till-methods", id: fid, "data-till": tl.till_id, novalidate: "" });
      var fs = el("fieldset", {}, [el("legend", { text: t("s.tilltitle", { till: tl.till_id }) + (tl.name ? " – " + tl.name : "") + " (" + tl.store_id + (tl.currency ? ", " + tl.currency : "") + ")" })]);
      var body = el("tbody");
      settings.methods.forEach(function (m) {
        var on = el("input", { type: "checkbox", id: fid + "-on-" + idOf(m), "class": "m-on", value: m });
        on.checked = (tl.disabled_methods || []).indexOf(m) < 0;
        var q = el("input", { type: "number", min: "1", step: "1", id: fid + "-q-" + idOf(m), "class": "m-quick", "data-method": m, inputmode: "numeric" });
        var qi = (tl.quick_methods || []).indexOf(m);
        if (qi >= 0) { q.value = String(qi + 1); }
        var note = (tl.available || []).indexOf(m) < 0 ? [el("br"), el("small", { "class": "hint", text: t("s.na") })] : [];
        body.appendChild(el("tr", { "data-method": m }, [
          td([el("label", { "for": on.id, text: label("method.", m) })].concat(note)),
          td([on]),
          td([el("label", { "for": q.id, "class": "sr-only", text: t("s.quick") + " " + label("method.", m) }), q])]));
      });
      fs.appendChild(el("div", { "class": "table-wrap" }, [el("table", { "class": "list methods" }, [
        el("thead", {}, [el("tr", {}, [el("th", { scope: "col", text: t("s.method") }), el("th", { scope: "col", text: t("s.on") }), el("th", { scope: "col", text: t("s.quick") })])]), body])]));
      var errBox = el("p", { "class": "error", role: "alert", id: fid + "-error", hidden: "" });
      fs.appendChild(errBox);
      fs.appendChild(el("button", { type: "submit", "class": "primary small", id: fid + "-save", text: t("s.save", { till: tl.till_id }) }));
      form.appendChild(fs);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        clearErrors(form);
        errBox.hidden = true;
        var off = [], quick = [];
        form.querySelectorAll("input.m-on").forEach(function (c) { c.removeAttribute("data-field"); if (!c.checked) { off.push(c); } });
        form.querySelectorAll("input.m-quick").forEach(function (q) { q.removeAttribute("data-field"); if (q.value.trim() !== "") { quick.push(q); } });
        quick.sort(function (a, b) { return Number(a.value) - Number(b.value); });
        // The API names a list's entry (methods[1]): its field here.
        off.forEach(function (c, i) { c.setAttribute("data-field", "methods[" + i + "]"); });
        var path = "/v1/tills/" + enc(tl.till_id);
        k.api("PUT", path + "/disabled-methods", { methods: off.map(function (c) { return c.value; }) }).then(function () {
          form.querySelectorAll("input.m-on").forEach(function (c) { c.removeAttribute("data-field"); });
          quick.forEach(function (q, i) { q.setAttribute("data-field", "methods[" + i + "]"); });
          return k.api("PUT", path + "/quick-methods", { methods: quick.map(function (q) { return q.dataset.method; }) });
        }).then(function () {
          status(t("s.saved", { till: tl.till_id }));
          return loadMethods(tl.till_id);
        }, fail(form, errBox));
      });
      return form;
    }
    function loadMethods(focusTill) {
      return k.api("GET", "/v1/settings/methods").then(function (r) {
        settings = r;
        var box = $("till-methods");
        clear(box);
        (r.tills || []).forEach(function (tl) { box.appendChild(tillForm(tl)); });
        if (focusTill) { var b = $("tm-" + idOf(focusTill) + "-save"); if (b) { b.focus(); } }
        return r;
      }, fail());
    }

    // The accounts of a store: every setting in force; an empty field is the default.
    var accounts = null;
    function accField(box, group, key, value, name) {
      var id = "acc-" + group.charAt(0) + "-" + idOf(key);
      var input = el("input", { id: id, "data-field": group + "." + key, "data-key": key, inputmode: "numeric", autocomplete: "off", size: "6" });
      input.value = value || "";
      box.appendChild(el("div", { "class": "fld" }, [el("label", { "for": id, text: name }), input]));
    }
    function keysOf(o) { return Object.keys(o || {}); }
    function union(a, b) { var out = a.slice(); b.forEach(function (x) { if (out.indexOf(x) < 0) { out.push(x); } }); return out; }
    function byRate(a, b) { return Number(b) - Number(a); }
    function renderAccounts(a) {
      accounts = a;
      var form = $("accounts-form");
      clearErrors(form);
      ["acc-methods", "acc-sales", "acc-vat", "acc-returns"].forEach(function (id) { clear($(id)); });
      var methods = union(settings ? settings.methods : [], keysOf(a.methods));
      methods.forEach(function (m) { accField($("acc-methods"), "methods", m, (a.methods || {})[m], label("method.", m)); });
      var rates = union(keysOf(a.sales), keysOf(a.vat)).sort(byRate);
      keysOf(a.sales).sort(byRate).forEach(function (r) { accField($("acc-sales"), "sales", r, a.sales[r], r + " %"); });
      keysOf(a.vat).sort(byRate).forEach(function (r) { accField($("acc-vat"), "vat", r, a.vat[r], r + " %"); });
      union(rates, keysOf(a.returns)).sort(byRate).forEach(function (r) { accField($("acc-returns"), "returns", r, (a.returns || {})[r], r + " %"); });
      $("acc-tips").value = a.tips || "";
      $("acc-rounding").value = a.rounding || "";
      $("acc-series").value = a.series || "";
    }
    function loadAccounts() {
      var store = $("acc-store").value;
      if (!store) { return Promise.resolve(); }
      return k.api("GET", "/v1/bookkeeping/stores/" + enc(store) + "/accounts").then(renderAccounts, fail($("accounts-form"), $("accounts-error")));
    }
    function collect(box) {
      var out = {};
      box.querySelectorAll("input").forEach(function (i) { var v = i.value.trim(); if (v !== "") { out[i.dataset.key] = v; } });
      return out;
    }
    $("acc-store").addEventListener("change", loadAccounts);
    $("accounts-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var form = $("accounts-form"), store = $("acc-store").value;
      clearErrors(form);
      $("accounts-error").hidden = true;
      var body = { methods: collect($("acc-methods")), sales: collect($("acc-sales")), vat: collect($("acc-vat")), returns: collect($("acc-returns")),
        tips: $("acc-tips").value.trim(), rounding: $("acc-rounding").value.trim(), series: $("acc-series").value.trim(), names: (accounts && accounts.names) || {} };
      k.api("PUT", "/v1/bookkeeping/stores/" + enc(store) + "/accounts", body).then(function (a) {
        renderAccounts(a);
        status(t("s.accsaved", { store: store }));
      }, fail(form, $("accounts-error")));
    });

    // The Swish certificate: the CLI's steps through the API.
    function certLine(title, c) {
      var words = [c.subject];
      if (c.swish_number) { words.push(t("s.number", { n: c.swish_number })); }
      var date = c.not_after ? c.not_after.slice(0, 10) : "";
      words.push(c.days_left >= 0 ? t("s.expires", { date: date, days: c.days_left }) : t("s.expired", { date: date }));
      var dd = el("dd", { "class": "cert", "data-days-left": String(c.days_left) }, [words.join(" · ")]);
      if (c.file) { dd.appendChild(el("br")); dd.appendChild(el("code", { text: c.file })); }
      (c.warnings || []).forEach(function (w) { dd.appendChild(el("br")); dd.appendChild(el("small", { "class": "error", text: w })); });
      return [el("dt", { text: title }), dd];
    }
    function renderSwish(st) {
      var dl = $("swish-status");
      clear(dl);
      $("swish-sandbox").hidden = !st.sandbox;
      $("csr-simsign").hidden = !st.sandbox;
      if (st.in_use) { certLine(t("s.inuse"), st.in_use).forEach(function (n) { dl.appendChild(n); }); }
      if (st.imported) { certLine(t("s.imported"), st.imported).forEach(function (n) { dl.appendChild(n); }); }
      if (!st.in_use && !st.imported) { dl.appendChild(el("dt", { text: t("s.inuse") })); dl.appendChild(el("dd", { id: "swish-none", text: t("s.none") })); }
      if (st.request) {
        dl.appendChild(el("dt", { text: t("s.request") }));
        dl.appendChild(el("dd", {}, [t("s.made", { t: when(st.request.created_at) }) + " ", el("code", { text: st.request.csr_file })]));
        showCSR(st.request.csr);
      }
      $("swish-restart").hidden = !st.restart_needed;
      // The sandbox's own note says it in the page's language.
      $("swish-next").textContent = st.sandbox ? "" : (st.next || "");
    }
    var csrURL = null;
    function showCSR(pem) {
      $("csr-pem").value = pem;
      if (csrURL) { URL.revokeObjectURL(csrURL); }
      csrURL = URL.createObjectURL(new Blob([pem], { type: "application/pkcs10" }));
      $("csr-download").href = csrURL;
      $("csr-shown").hidden = false;
    }
    function loadSwish() { return k.api("GET", "/v1/swish/certificate").then(renderSwish, fail()); }
    $("csr-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var form = $("csr-form");
      clearErrors(form);
      status(t("s.working"));
      $("csr-make").disabled = true;
      k.api("POST", "/v1/swish/csr", { organisation: $("csr-org").value.trim(), swish_number: $("csr-number").value.trim() }).then(function (r) {
        $("csr-make").disabled = false;
        showCSR(r.csr);
        status(t("s.csrmade"));
        $("csr-pem").focus();
        return loadSwish();
      }, function (err) { $("csr-make").disabled = false; fail(form)(err); });
    });
    $("csr-simsign").addEventListener("click", function () {
      clearErrors($("cert-form"));
      k.api("POST", "/v1/sandbox/swish/sign-csr", { csr: $("csr-pem").value }).then(function (r) {
        $("cert-pem").value = r.certificate;
        status(t("s.signed"));
        $("cert-pem").focus();
      }, fail());
    });
    function readFile(file) {
      return new Promise(function (resolve, reject) {
        var fr = new FileReader();
        fr.onload = function () {
          var b = new Uint8Array(fr.result), head = "";
          for (var i = 0; i < Math.min(b.length, 64); i++) { head += String.fromCharCode(b[i]); }
          if (head.indexOf("-----BEGIN") >= 0 || /^\s*-----BEGIN/.test(head)) { resolve(new TextDecoder().decode(b)); return; }
          var bin = ""; for (var j = 0; j < b.length; j++) { bin += String.fromCharCode(b[j]); }
          resolve(btoa(bin));
        };
        fr.onerror = function () { reject(fr.error); };
        fr.readAsArrayBuffer(file);
      });
    }
    $("cert-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var form = $("cert-form"), f = $("cert-file").files[0];
      clearErrors(form);
      $("cert-error").hidden = true;
      (f ? readFile(f) : Promise.resolve($("cert-pem").value)).then(function (cert) {
        return k.api("PUT", "/v1/swish/certificate", { certificate: cert, allow_incomplete: $("cert-incomplete").checked });
      }).then(function (st) {
        renderSwish(st);
        $("cert-file").value = "";
        status(t("s.certok"));
      }, fail(form, $("cert-error")));
    });
    document.querySelectorAll("button.copy").forEach(function (b) {
      b.addEventListener("click", function () { var i = $(b.dataset.copy); copy(i.value, i); });
    });

    // Computop and Svea: read-only, never a secret.
    function loadProviders() {
      return k.api("GET", "/v1/settings/providers").then(function (r) {
        var rows = $("prov-rows");
        clear(rows);
        (r.providers || []).forEach(function (p) {
          var st = p.sandbox ? t("s.sandbox") : (p.configured ? t("s.configured") : t("s.notconfigured"));
          var env = p.environment ? label("s.env.", p.environment) + (p.host ? " (" + p.host + ")" : "") : "";
          var secrets = el("ul", { "class": "plain" }, (p.secrets || []).map(function (x) { return el("li", {}, [el("code", { text: x.key }), " " + (x.set ? t("s.set") : t("s.notset"))]); }));
          var keys = el("small", {}, [(p.keys || []).join(", ")]);
          rows.appendChild(el("tr", { "data-provider": p.provider }, [td([el("strong", { text: p.name }), el("br"), el("code", { text: p.provider })]), td([st]),
            td([p.merchant_id || ""]), td([env]), td([secrets]), td([keys, el("br"), el("small", { "class": "hint", text: p.doc || "" })])]));
        });
      }, fail());
    }

    loadMethods().then(function (r) {
      var sel = $("acc-store");
      ((r && r.stores) || []).forEach(function (st) { sel.appendChild(el("option", { value: st.id }, [st.id + (st.name ? " – " + st.name : "")])); });
      var want = new URLSearchParams(location.search).get("store");
      if (want) { sel.value = want; }
      return loadAccounts();
    });
    loadSwish();
    loadProviders();
  }

  // Webhooks (docs/webhooks.md): the merchant's subscriptions, a new one
  // (its secret shown once), enable or disable, a new secret, delete (after
  // a confirm step) and each one's delivery log with redelivery
  // (/admin/webhooks?id=wh_… opens it). Every control is there for every
  // role: the API decides, and what it refuses (a back-office user's
  // change) is shown in its words.
  function webhooksSection() {
    var form = $("wh-form"), rows = $("rows"), logRows = $("wh-log-rows");
    var logSub = null, logAfter = "", deleting = null, deleteFrom = null;

    function stateWords(d) {
      var out = [];
      if (d.last_status) { out.push(t("wh.http", { status: d.last_status })); } else if (d.attempts && d.state !== "delivered") { out.push(t("wh.noanswer")); }
      if (d.last_error) { out.push(d.last_error); }
      return out.join(": ");
    }
    function deliveryState(d) {
      return el("span", { "class": "st st-" + d.state, text: label("wh.st.", d.state) });
    }
    function lastCell(s) {
      var cell = td([t("a.loading")], "wh-last");
      k.api("GET", "/v1/webhooks/" + enc(s.id) + "/deliveries?limit=1").then(function (r) {
        clear(cell);
        var d = (r.deliveries || [])[0];
        if (!d) { cell.appendChild(el("span", { "class": "hint", text: t("wh.none") })); return; }
        cell.setAttribute("data-state", d.state);
        cell.appendChild(deliveryState(d));
        cell.appendChild(document.createTextNode(" " + when(d.delivered_at || d.last_attempt_at || d.created_at)));
        cell.appendChild(el("br"));
        cell.appendChild(el("code", { text: d.event }));
        var words = stateWords(d);
        if (words && d.state !== "delivered") { cell.appendChild(el("br")); cell.appendChild(el("small", { "class": "error", text: words })); }
      }, function (err) { clear(cell); cell.appendChild(el("small", { "class": "error", text: err.message })); });
      return cell;
    }
    function subRow(s) {
      var name = s.description ? s.description + " " + s.url : s.url;
      var st = [el("span", { "class": "st " + (s.enabled ? "st-on" : "st-off"), text: s.enabled ? t("wh.enabled") : (s.notice ? t("wh.disabledby") : t("wh.disabled")) })];
      if (!s.enabled && s.disabled_at) { st.push(" " + t("wh.since", { t: when(s.disabled_at) })); }
      if (s.notice) { st.push(el("br"), el("small", { "class": "error wh-notice", text: s.notice })); }
      var acts = [
        button(t("wh.log"), "secondary small wh-logbtn", function () { openLog(s); }, { "aria-label": t("wh.logof", { url: name }) }),
        button(s.enabled ? t("wh.disable") : t("wh.enable"), "secondary small wh-toggle", function () {
          act(k.api("PATCH", "/v1/webhooks/" + enc(s.id), { enabled: !s.enabled }), s.id, "wh-toggle");
        }, { "aria-label": (s.enabled ? t("wh.disable") : t("wh.enable")) + " " + name }),
        button(t("wh.rotate"), "secondary small wh-rotate", function () {
          clearErrors(null);
          k.api("POST", "/v1/webhooks/" + enc(s.id) + "/rotate-secret").then(function (w) {
            status(t("wh.rotatedok", { url: w.url }));
            showSecret(w.secret, w.previous_secret_expires_at);
          }, fail());
        }, { "aria-label": t("wh.rotate") + " " + name }),
        button(t("wh.delete"), "secondary small wh-delete", function (ev) { confirmDelete(s, ev.currentTarget); }, { "aria-label": t("wh.delete") + " " + name })
      ];
      var urlCell = [el("code", { "class": "wh-url", text: s.url })];
      if (s.description) { urlCell.push(el("br"), el("small", { "class": "hint", text: s.description })); }
      if (merchants.length > 1) { urlCell.push(el("br"), el("small", { "class": "hint", text: t("wh.merchant", { id: s.merchant_id }) })); }
      return el("tr", { "data-id": s.id, "data-enabled": String(s.enabled) }, [td(urlCell), td([el("code", { text: (s.events || []).join(", ") })]), td(st), lastCell(s),
        td([el("div", { "class": "acts" }, acts)])]);
    }
    function load() {
      return k.api("GET", "/v1/webhooks").then(function (r) {
        clear(rows);
        var subs = r.webhooks || [];
        subs.forEach(function (s) { rows.appendChild(subRow(s)); });
        $("empty").hidden = subs.length > 0;
        return subs;
      }, function (err) { fail()(err); return []; });
    }
    // act runs a change, then shows the list again with the focus back on the button used.
    function act(req, id, cls) {
      clearErrors(null);
      return req.then(function () {
        status(t("a.done"));
        return load().then(function () {
          var b = rows.querySelector('tr[data-id="' + CSS.escape(id) + '"] .' + cls);
          if (b) { b.focus(); }
        });
      }, fail());
    }
    function showSecret(secret, until) {
      $("wh-secret-value").value = secret || "";
      $("wh-rotated").hidden = !until;
      $("wh-rotated-until").textContent = until ? when(until) : "";
      $("wh-secret").hidden = false;
      $("wh-secret").focus();
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      $("wh-error").hidden = true;
      var boxes = Array.prototype.filter.call(form.querySelectorAll("input.wh-ev"), function (c) { c.removeAttribute("data-field"); return c.checked; });
      // The API names a list's entry (events[1]): its checkbox here.
      boxes.forEach(function (c, i) { c.setAttribute("data-field", "events[" + i + "]"); });
      var body = { url: $("wh-url").value.trim(), events: boxes.map(function (c) { return c.value; }) };
      if ($("wh-desc").value.trim()) { body.description = $("wh-desc").value.trim(); }
      // Left out with one merchant (the API takes the server's only one) or none chosen (the API asks for it).
      if (!$("wh-merchant-fld").hidden && $("wh-merchant").value) { body.merchant_id = $("wh-merchant").value; }
      $("wh-submit").disabled = true;
      k.api("POST", "/v1/webhooks", body).then(function (w) {
        $("wh-submit").disabled = false;
        form.reset();
        status(t("wh.created", { id: w.id }));
        showSecret(w.secret, null);
        load();
      }, function (err) { $("wh-submit").disabled = false; fail(form, $("wh-error"))(err); });
    });
    $("wh-copy").addEventListener("click", function () { var i = $("wh-secret-value"); copy(i.value, i); });

    // Delete, after a confirm step.
    function confirmDelete(s, from) {
      deleting = s; deleteFrom = from;
      $("wh-confirm-text").textContent = t("wh.sure", { url: s.url });
      $("wh-confirm").hidden = false;
      $("wh-confirm-yes").focus();
    }
    $("wh-confirm-no").addEventListener("click", function () {
      $("wh-confirm").hidden = true;
      if (deleteFrom) { deleteFrom.focus(); }
      deleting = null;
    });
    $("wh-confirm-yes").addEventListener("click", function () {
      var s = deleting;
      $("wh-confirm").hidden = true;
      deleting = null;
      if (!s) { return; }
      clearErrors(null);
      k.api("DELETE", "/v1/webhooks/" + enc(s.id)).then(function () {
        if (logSub && logSub.id === s.id) { closeLog(); }
        status(t("wh.deleted"));
        return load().then(function () { main.focus(); });
      }, fail());
    });

    // The delivery log of one subscription, newest first.
    function deliveryRow(d) {
      var next = d.state === "pending" && d.next_attempt_at ? when(d.next_attempt_at) : "";
      return el("tr", { "data-id": d.id, "data-state": d.state, "data-event": d.event }, [td([when(d.created_at)]), td([el("code", { text: d.event })]),
        td([String(d.journal_seq)], "num"), td([deliveryState(d), d.delivered_at ? " " + when(d.delivered_at) : ""]), td([String(d.attempts)], "num"),
        td([el("span", { "class": d.last_error ? "error" : "", text: stateWords(d) })]), td([next]),
        td([button(t("wh.redeliver"), "secondary small wh-redeliver", function () {
          clearErrors(null);
          k.api("POST", "/v1/webhooks/" + enc(logSub.id) + "/deliveries/" + enc(d.id) + "/redeliver").then(function () {
            status(t("wh.redelivered"));
            return loadLog(true).then(function () {
              var b = logRows.querySelector('tr[data-id="' + CSS.escape(d.id) + '"] .wh-redeliver');
              if (b) { b.focus(); }
            });
          }, fail());
        }, { "aria-label": t("wh.redeliver") + " " + d.event + " " + d.journal_seq })])]);
    }
    function loadLog(reset) {
      if (!logSub) { return Promise.resolve(); }
      var q = new URLSearchParams({ limit: "50" });
      if (reset) { logAfter = ""; }
      if (logAfter) { q.set("after", logAfter); }
      return k.api("GET", "/v1/webhooks/" + enc(logSub.id) + "/deliveries?" + q.toString()).then(function (r) {
        if (reset) { clear(logRows); }
        (r.deliveries || []).forEach(function (d) { logRows.appendChild(deliveryRow(d)); });
        logAfter = r.next_after || "";
        $("wh-log-more").hidden = !logAfter;
        $("wh-log-empty").hidden = logRows.children.length > 0;
      }, fail());
    }
    function openLog(s) {
      logSub = s;
      $("wh-log-title").textContent = t("wh.logof", { url: s.url });
      history.replaceState(null, "", location.pathname + "?id=" + enc(s.id));
      $("wh-log").hidden = false;
      $("wh-log").focus();
      return loadLog(true);
    }
    function closeLog() {
      var id = logSub && logSub.id;
      logSub = null;
      $("wh-log").hidden = true;
      history.replaceState(null, "", location.pathname);
      var b = id && rows.querySelector('tr[data-id="' + CSS.escape(id) + '"] .wh-logbtn');
      if (b) { b.focus(); }
    }
    $("wh-log-close").addEventListener("click", closeLog);
    $("wh-log-refresh").addEventListener("click", function () { loadLog(true); load(); });
    $("wh-log-more").addEventListener("click", function () { loadLog(false); });

    // The merchants (of the stores): a choice only where there are several.
    var merchants = [];
    function loadMerchants() {
      return k.api("GET", "/v1/settings/methods").then(function (r) {
        var names = {};
        (r.stores || []).forEach(function (st) {
          if (!names[st.merchant_id]) { names[st.merchant_id] = []; merchants.push(st.merchant_id); }
          names[st.merchant_id].push(st.name || st.id);
        });
        var sel = $("wh-merchant");
        merchants.forEach(function (m) { sel.appendChild(el("option", { value: m, text: m + " (" + names[m].join(", ") + ")" })); });
        $("wh-merchant-fld").hidden = merchants.length < 2;
      }, function () { /* without the list, the API still names what is missing */ });
    }

    loadMerchants().then(load).then(function (subs) {
      var want = new URLSearchParams(location.search).get("id");
      if (!want) { return; }
      var s = subs.filter(function (x) { return x.id === want; })[0];
      if (s) { openLog(s); return; }
      k.api("GET", "/v1/webhooks/" + enc(want)).then(openLog, fail());
    });
  }

  var sections = {
    payments: listSection, refunds: listSection, receipts: listSection, orders: ordersSection, neworder: newOrderSection,
    picking: pickingSection, reports: reportsSection, tills: tillsSection, settings: settingsSection, webhooks: webhooksSection, keys: keysSection, users: usersSection, sms: smsSection
  };
  document.addEventListener("DOMContentLoaded", function () { if (sections[section]) { sections[section](); } });
})();
