// The sign-in form: POST /v1/session, then on to ?next (a path of this site only) or the home screen.
(function () {
  "use strict";
  var form = document.getElementById("signin-form");
  var errorBox = document.getElementById("signin-error");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    errorBox.hidden = true;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    kvitt.api("POST", "/v1/session", { username: form.username.value, password: form.password.value }).then(function () {
      var next = new URLSearchParams(location.search).get("next") || "/";
      if (!/^\/(?!\/)/.test(next)) { next = "/"; } // never to another site
      location.href = next;
    }, function (err) {
      button.disabled = false;
      errorBox.textContent = err.status === 401 ? kvitt.t("signin.wrong") : err.message;
      errorBox.hidden = false;
      form.password.value = "";
      form.password.focus();
    });
  });
})();
