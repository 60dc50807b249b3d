// Curator editor pages: keyboard shortcuts and in-place decisions.
// Everything here is an addition: each page works with plain forms when this does not run.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var done = []; // ids acted on in this page, newest last, for "u"
  var current = null;

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("article.item"));
  }

  function announce(text, kind) {
    var region = document.getElementById("flash");
    if (!region) return;
    var box = document.createElement("div");
    box.className = "flash flash-" + (kind || "done");
    box.textContent = text;
    region.textContent = "";
    region.appendChild(box);
  }

  function select(item) {
    if (!item) return;
    if (current) current.classList.remove("current");
    current = item;
    item.classList.add("current");
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = items();
    if (!all.length) return;
    var i = all.indexOf(current);
    if (i < 0) i = step > 0 ? -1 : all.length;
    select(all[Math.min(Math.max(i + step, 0), all.length - 1)]);
  }

  // The status the list shows ("pending" on the queue, "all" on /items).
  function listStatus() {
    var list = document.querySelector("ol.items");
    var status = list && list.getAttribute("data-list");
    return status === "all" || !status ? "pending" : status;
  }

  function nextValue() {
    var f = document.getElementById("bulk");
    var n = f && f.querySelector('input[name="next"]');
    return n ? n.value : location.pathname;
  }

  function post(url, extra) {
    var body = new URLSearchParams();
    body.set("csrf", csrf);
    body.set("next", nextValue());
    if (extra) Object.keys(extra).forEach(function (k) { body.set(k, extra[k]); });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: body
    }).then(function (response) {
      if (response.status === 401) {
        location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
        throw new Error("signed out");
      }
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
        return data;
      });
    });
  }

  // The heading's count of this list: the queue's from the server when unfiltered (as the
  // nav badge), else moved by one as an item leaves or rejoins the list's status.
  function recount(before, data) {
    var total = document.querySelector("h1 .total");
    var n = total && total.querySelector(".total-n");
    if (!n) return;
    var list = total.getAttribute("data-list");
    if (list === "pending" && total.hasAttribute("data-all") && typeof data.pending === "number") {
      n.textContent = String(data.pending);
      return;
    }
    if (list === "all" || before === data.status) return;
    var delta = (data.status === list ? 1 : 0) - (before === list ? 1 : 0);
    var value = parseInt(n.textContent, 10);
    if (!isNaN(value)) n.textContent = String(Math.max(0, value + delta));
  }

  function statusOf(item) {
    var known = ["pending", "approved", "rejected"];
    for (var i = 0; i < known.length; i++) {
      if (item.classList.contains("status-" + known[i])) return known[i];
    }
    return "";
  }

  function show(item, data) {
    var msg = item.querySelector(".done-msg");
    var before = statusOf(item);
    recount(before, data);
    item.classList.remove("status-pending", "status-approved", "status-rejected");
    item.classList.add("status-" + data.status);
    item.classList.toggle("done", data.status !== listStatus());
    // What the page says must follow what happened: the status line, the history length the
    // next undo is checked against (a stale one is refused), and the queue's count.
    var status = item.querySelector(".status");
    if (status) {
      status.className = "status status-" + data.status;
      status.textContent = data.status;
    }
    // An undone edit brings its old title back.
    var title = item.querySelector("h2.title a");
    if (title && typeof data.title === "string" && title.textContent !== data.title) {
      title.textContent = data.title;
    }
    var expect = item.querySelector('input[name="expect-' + item.getAttribute("data-id") + '"]');
    if (expect && typeof data.version === "number") expect.value = String(data.version);
    if (typeof data.pending === "number") {
      document.querySelectorAll(".count").forEach(function (c) { c.textContent = String(data.pending); });
    }
    if (!msg) return;
    msg.textContent = "";
    if (!data.undo) return;
    msg.appendChild(document.createTextNode(data.message + " "));
    var undo = document.createElement("button");
    undo.type = "button";
    undo.className = "small";
    undo.textContent = "Undo";
    undo.addEventListener("click", function () { act(item, "undo"); });
    msg.appendChild(undo);
  }

  function act(item, action) {
    if (!item) return;
    var id = item.getAttribute("data-id");
    var extra = {};
    var expect = item.querySelector('input[name="expect-' + id + '"]');
    if (action === "undo" && expect) extra["expect-" + id] = expect.value;
    return post("/items/" + encodeURIComponent(id) + "/" + action, extra).then(function (data) {
      show(item, data);
      announce(data.message, "done");
      if (action === "approve" || action === "reject") {
        done.push(id);
      } else if (action === "undo") {
        var at = done.lastIndexOf(id);
        if (at >= 0) done.splice(at, 1);
      }
      return data;
    }).catch(function (err) {
      if (err.message !== "signed out") announce(err.message, "error");
    });
  }

  // Item buttons inside the list: decide in place instead of reloading the page.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button || !button.getAttribute("data-action")) return;
    var item = button.closest("article.item");
    if (!item) return; // the item page: plain form post
    event.preventDefault();
    select(item);
    var action = button.getAttribute("data-action");
    act(item, action).then(function (data) {
      if (data && (action === "approve" || action === "reject")) move(1);
    });
  });

  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="ids"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var t = event.target;
    var tag = t && t.tagName;
    if (t && (t.isContentEditable || tag === "TEXTAREA" || tag === "SELECT" ||
              (tag === "INPUT" && t.type !== "checkbox"))) return;
    if (!items().length) return;
    var key = event.key;
    if (key === "j") { move(1); }
    else if (key === "k") { move(-1); }
    else if (key === "a" || key === "r") {
      // Only what the list offers: no approving on the Approved list, no rejecting on the
      // Rejected one.
      if ((key === "a" ? "approved" : "rejected") === listStatus()) return;
      if (!current) { move(1); return; }
      var item = current;
      act(item, key === "a" ? "approve" : "reject").then(function (data) {
        if (data && current === item) move(1);
      });
    } else if (key === "e") {
      if (!current) return;
      var link = current.querySelector('a[data-action="edit"]');
      if (link) location.href = link.href;
    } else if (key === "u") {
      var id = done.length ? done[done.length - 1] : (current && current.getAttribute("data-id"));
      var target = id && document.getElementById("item-" + id);
      if (target) { select(target); act(target, "undo"); }
    } else {
      return;
    }
    event.preventDefault();
  });

  // Every handler is in place: tests (and anything else) wait for this, not for the page.
  document.documentElement.dataset.js = "ready";
})();
