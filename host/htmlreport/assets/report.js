// taskhost report.html: log lines on demand, the not-passed filter,
// search, folding. No network: everything is in this file.
(function () {
  "use strict";
  var decoded = {};
  function logBytes(i) {
    if (!(i in decoded)) {
      var el = document.querySelector('.logdata[data-index="' + i + '"]');
      var bin = atob(el.getAttribute("data-b64"));
      var b = new Uint8Array(bin.length);
      for (var k = 0; k < bin.length; k++) b[k] = bin.charCodeAt(k);
      decoded[i] = b;
    }
    return decoded[i];
  }
  // printable writes the control characters of a log (but its tabs,
  // carriage returns and line breaks) and the characters that reorder
  // text as escapes, as the host does on the terminal.
  function printable(s) {
    return s.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, function (c) {
      var n = c.charCodeAt(0);
      return n < 0x80 ? "\\x" + ("0" + n.toString(16)).slice(-2) : "\\u" + ("000" + n.toString(16)).slice(-4);
    });
  }
  function showLog(btn) {
    var pre = btn.closest(".node").querySelector(":scope > pre.log");
    if (!pre.hidden) { pre.hidden = true; btn.classList.remove("on"); return; }
    if (!pre.dataset.filled) {
      var b = logBytes(btn.dataset.log), begin = +btn.dataset.begin, size = +btn.dataset.size;
      var part = size < 0 ? b.subarray(begin) : b.subarray(begin, begin + size);
      var text = printable(new TextDecoder("utf-8").decode(part));
      pre.textContent = text === "" ? "(no lines)" : text;
      pre.dataset.filled = "1";
    }
    pre.hidden = false;
    btn.classList.add("on");
  }
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.classList.contains("logbtn")) { showLog(t); return; }
    if (t.classList.contains("fold") && t.tagName === "BUTTON") {
      var kids = t.closest(".node").querySelector(":scope > .kids");
      kids.classList.toggle("folded");
      t.textContent = kids.classList.contains("folded") ? "▸" : "▾";
    }
  });

  var notPassed = document.getElementById("notpassed");
  var search = document.getElementById("search");
  var tasks = Array.prototype.slice.call(document.querySelectorAll(".task"));
  function text(el) { return el.textContent.toLowerCase(); }
  function apply() {
    var only = notPassed.checked, q = search.value.trim().toLowerCase(), shown = 0;
    tasks.forEach(function (task) {
      var nodes = task.querySelectorAll(".node[data-result]");
      var any = false;
      for (var i = 0; i < nodes.length; i++) {
        var n = nodes[i], row = n.querySelector(":scope > .row"), data = n.querySelector(":scope > pre.data");
        var hit = q === "" || text(row).indexOf(q) >= 0 || (data && text(data).indexOf(q) >= 0);
        n.dataset.hit = hit ? "1" : "";
      }
      // A node is shown if it (or something under it) matches, and, with
      // the filter on, if it did not pass.
      for (var j = nodes.length - 1; j >= 0; j--) {
        var m = nodes[j];
        var sub = m.querySelectorAll(".node[data-hit='1']").length > 0;
        var show = (m.dataset.hit === "1" || sub) && !(only && m.classList.contains("ok"));
        m.classList.toggle("hidden", !show);
        if (show) any = true;
      }
      var head = task.querySelector(":scope > summary");
      var taskHit = q === "" || text(head).indexOf(q) >= 0 || any;
      var visible = taskHit && !(only && task.classList.contains("ok"));
      if (q !== "" && taskHit && text(head).indexOf(q) >= 0) {
        // The task itself matches: show all of it.
        task.querySelectorAll(".node").forEach(function (n) {
          if (!(only && n.classList.contains("ok"))) n.classList.remove("hidden");
        });
      }
      task.classList.toggle("hidden", !visible);
      if (visible) { shown++; if (q !== "") task.open = true; }
    });
    document.getElementById("shown").textContent = shown + " of " + tasks.length + " tasks shown";
  }
  notPassed.addEventListener("change", apply);
  search.addEventListener("input", apply);
  document.getElementById("expand").addEventListener("click", function () {
    tasks.forEach(function (t) { t.open = true; });
    document.querySelectorAll(".kids.folded").forEach(function (k) { k.classList.remove("folded"); });
  });
  document.getElementById("collapse").addEventListener("click", function () {
    tasks.forEach(function (t) { t.open = false; });
  });
  apply();
})();
