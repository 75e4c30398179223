// The console's live parts, served by Sotto itself: a form with data-live posts its fields
// (CSRF token included) as the person types and shows the server's HTML answer in its
// data-target; an element with data-poll fetches its HTML again every data-every ms.
"use strict";
(function () {
  function swap(target, response) {
    return response.text().then(function (html) {
      if (response.status === 401) { window.location.assign("/console/sign-in?ended=1"); return; }
      target.innerHTML = html;
    });
  }
  function live(form) {
    var target = document.getElementById(form.dataset.target);
    var timer = null, seq = 0;
    function send() {
      var mine = ++seq;
      fetch(form.dataset.live, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "Sotto-Partial": "1" },
        body: new URLSearchParams(new FormData(form)).toString()
      }).then(function (r) { if (mine === seq) { return swap(target, r); } }).catch(function () {});
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(send, 250); });
    send();
  }
  function poll(el) {
    var every = parseInt(el.dataset.every || "2000", 10);
    function tick() {
      fetch(el.dataset.poll, { credentials: "same-origin", headers: { "Sotto-Partial": "1" } })
        .then(function (r) { return swap(el, r); })
        .then(function () { if (!el.querySelector("[data-state]") || el.innerHTML.indexOf("finished") < 0) { setTimeout(tick, every); } })
        .catch(function () { setTimeout(tick, every * 2); });
    }
    setTimeout(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-live]").forEach(live);
    document.querySelectorAll("[data-poll]").forEach(poll);
  });
})();
