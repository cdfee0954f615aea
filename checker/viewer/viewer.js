/* The trace viewer: renders the JSON in #trace-data with textContent only, never innerHTML. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var steps = data.steps;
  var last = steps.length - 1;
  var current = -1;
  var SVG = "http://www.w3.org/2000/svg";
  var STATUS = { s: "same", c: "changed", a: "added", r: "removed" };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, parent) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /* ---- header --------------------------------------------------------------------------- */

  function describeVerdict() {
    if (data.verdict === "error") return "the model raised: " + (data.error || "");
    if (data.property === "deadlock") return "deadlock: a state where no action is enabled";
    if (data.property) return (data.property_kind || "property") + " " + data.property + " is broken";
    return data.verdict;
  }

  document.getElementById("title").textContent = data.model + ": " + describeVerdict();
  var params = Object.keys(data.params).map(function (k) { return k + "=" + data.params[k]; });
  document.getElementById("summary").textContent =
    (data.source ? data.source + " · " : "") + "parameters " + (params.join(", ") || "none") +
    " · " + (last + 1) + " steps" + (data.symmetry ? " · found with symmetry reduction" : "");

  /* ---- where each property breaks -------------------------------------------------------- */

  var breaksAt = data.properties.map(function (prop, p) {
    if (prop.kind === "sometimes") return null;
    for (var i = 0; i <= last; i++) {
      var value = steps[i].props ? steps[i].props[p] : null;
      if (prop.kind === "deadlock" ? value === true : value === false) return i;
    }
    return null;
  });

  /* ---- step list ------------------------------------------------------------------------- */

  var list = document.getElementById("steps");
  var items = steps.map(function (step, i) {
    var li = el("li", "step");
    li.dataset.step = String(i);
    li.setAttribute("role", "option");
    li.appendChild(el("span", "num", i));
    var body = el("span", "label", step.action);
    if (step.meta && step.meta.fault) body.appendChild(el("span", "badge fault", step.meta.kind || "fault"));
    if (step.error) body.appendChild(el("span", "badge broken", "raised"));
    data.properties.forEach(function (prop, p) {
      if (breaksAt[p] === i) body.appendChild(el("span", "badge broken", "✗ " + prop.name));
    });
    li.appendChild(body);
    li.addEventListener("click", function () { select(i); });
    list.appendChild(li);
    return li;
  });

  /* ---- state tree ------------------------------------------------------------------------ */

  /* A node is open when something inside it changed; added or removed subtrees stay closed and
     carry their mark once, on the subtree's own line. */
  function renderNode(node, parentStatus, openAll) {
    var status = STATUS[node.s] || "same";
    var marked = (status === "added" || status === "removed") && status !== parentStatus;
    if (node.c) {
      var details = el("details", "node " + status);
      details.open = openAll || status === "changed";
      var summary = el("summary");
      if (node.k !== undefined) summary.appendChild(el("span", "key", node.k + ": "));
      if (node.t) summary.appendChild(el("span", "type", node.t));
      summary.appendChild(el("span", "preview", node.v));
      if (node.o !== undefined) summary.appendChild(el("span", "mark old", "was " + node.o));
      if (marked) summary.appendChild(el("span", "mark", status));
      details.appendChild(summary);
      var children = el("div", "children");
      node.c.forEach(function (child) { children.appendChild(renderNode(child, status, false)); });
      details.appendChild(children);
      return details;
    }
    var leaf = el("div", "leaf " + status);
    if (node.k !== undefined) leaf.appendChild(el("span", "key", node.k + ": "));
    if (node.o !== undefined) {
      leaf.appendChild(el("span", "old", node.o));
      leaf.appendChild(el("span", "arrow", "→"));
    }
    leaf.appendChild(el("span", "value", node.v));
    if (marked) leaf.appendChild(el("span", "mark", status));
    return leaf;
  }

  function renderState(i) {
    var step = steps[i];
    document.getElementById("step-title").textContent = i + "  " + step.action;
    var meta = document.getElementById("step-meta");
    clear(meta);
    var m = step.meta || {};
    if (m.kind) {
      meta.appendChild(el("span", "badge kind", m.kind));
      if (m.actor) meta.appendChild(el("span", null, " at " + m.actor));
      if (m.timer) meta.appendChild(el("span", null, ", timer " + m.timer));
      if (m.fault) meta.appendChild(el("span", "badge fault", "fault"));
      (m.sends || []).forEach(function (send) {
        meta.appendChild(el("div", "sent", "sends " + send.src + " → " + send.dst + ": " + send.label));
      });
    }
    var error = document.getElementById("step-error");
    error.hidden = !step.error;
    error.textContent = step.error ? "raised " + step.error : "";
    var changes = document.getElementById("changes");
    clear(changes);
    if (i === 0) changes.appendChild(el("li", "none", "initial state"));
    else if (!step.changes) changes.appendChild(el("li", "none", "no state"));
    else if (!step.changes.length) changes.appendChild(el("li", "none", "no change"));
    (step.changes || []).forEach(function (change) {
      var li = el("li", "change");
      li.appendChild(el("span", "path", change[0] || "state"));
      li.appendChild(el("span", null, ": " + change[1]));
      changes.appendChild(li);
    });
    var state = document.getElementById("state");
    clear(state);
    (step.tree || []).forEach(function (node) { state.appendChild(renderNode(node, "same", i === 0)); });
  }

  /* ---- properties ------------------------------------------------------------------------ */

  function valueCell(prop, value, i) {
    var td = el("td", "value");
    if (typeof value === "string") { td.className += " raised"; td.textContent = value; }
    else if (value === null || value === undefined) { td.className += " na"; td.textContent = i === 0 ? "— (no transition)" : "—"; }
    else if (prop.kind === "sometimes") {
      td.className += value ? " reached" : " unreached";
      td.textContent = value ? "✓ reached" : "not reached";
    } else if (prop.kind === "deadlock") {
      td.className += value ? " broken" : " holds";
      td.textContent = value ? "✗ no action enabled" : "actions enabled";
    } else {
      td.className += value ? " holds" : " broken";
      td.textContent = value ? "✓ holds" : "✗ broken";
    }
    return td;
  }

  function renderProperties(i) {
    var body = document.querySelector("#properties tbody");
    clear(body);
    var values = steps[i].props || [];
    data.properties.forEach(function (prop, p) {
      var tr = el("tr", prop.violated ? "violated" : "");
      tr.dataset.property = prop.name;
      var name = el("td", "name", prop.name);
      if (prop.violated) name.appendChild(el("span", "badge broken", "violated"));
      if (breaksAt[p] !== null) {
        var jump = el("button", "jump", "breaks at step " + breaksAt[p]);
        jump.type = "button";
        jump.addEventListener("click", function () { select(breaksAt[p]); });
        name.appendChild(el("br"));
        name.appendChild(jump);
      }
      tr.appendChild(name);
      tr.appendChild(el("td", "kind", prop.kind));
      tr.appendChild(valueCell(prop, values[p], i));
      body.appendChild(tr);
    });
    if (!data.properties.length) {
      var tr = el("tr");
      var td = el("td", "na", "no properties checked");
      td.colSpan = 3;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  /* ---- message sequence chart ------------------------------------------------------------ */

  var chartItems = [];

  function shorten(text, size) {
    return text.length > size ? text.slice(0, size - 1) + "…" : text;
  }

  function messageKey(message) {
    return JSON.stringify([message.src, message.dst, message.label]);
  }

  function buildChart() {
    var nodes = data.nodes || [];
    var actorSteps = steps.some(function (s) { return s.meta && s.meta.kind; });
    if (!nodes.length || !actorSteps) return;
    document.getElementById("chart-panel").hidden = false;
    var COL = 130, ROW = 30, TOP = 46, LEFT = 34;
    var column = {};
    nodes.forEach(function (node, n) { column[node] = n; });
    var width = LEFT + nodes.length * COL + 10;
    var height = TOP + (last + 1) * ROW + 24;
    function x(node) { return LEFT + COL / 2 + (column[node] === undefined ? 0 : column[node]) * COL; }
    function y(i) { return TOP + i * ROW + ROW / 2; }
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height,
                            role: "img", "aria-label": "message sequence chart" });
    var defs = svg("defs", {}, root);
    [["head-deliver", "#1f5fbf"], ["head-inflight", "#9aa4b0"], ["head-duplicate", "#c26a00"]]
      .forEach(function (spec) {
        var marker = svg("marker", { id: spec[0], viewBox: "0 0 10 10", refX: 9, refY: 5,
                                     markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
        svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: spec[1] }, marker);
      });
    var rows = svg("g", {}, root);
    steps.forEach(function (step, i) {
      var band = svg("rect", { x: 0, y: TOP + i * ROW, width: width, height: ROW, "class": "row" }, rows);
      band.dataset.step = String(i);
      band.addEventListener("click", function () { select(i); });
      chartItems.push(band);
      var num = svg("text", { x: 4, y: y(i) + 4, "class": "rownum" }, rows);
      num.textContent = String(i);
    });
    var lines = svg("g", {}, root);
    var events = svg("g", {}, root);
    var down = {};
    nodes.forEach(function (node) {
      svg("line", { x1: x(node), y1: TOP - 6, x2: x(node), y2: height - 8, "class": "lifeline" }, lines);
      svg("rect", { x: x(node) - COL / 2 + 8, y: 6, width: COL - 16, height: 24, rx: 4, "class": "node-box" }, lines);
      var name = svg("text", { x: x(node), y: 22, "class": "node-name" }, lines);
      name.textContent = shorten(node, 18);
    });

    function item(cls, i, title) {
      var group = svg("g", { "class": "item " + cls }, events);
      group.dataset.step = String(i);
      var tip = svg("title", {}, group);
      tip.textContent = title;
      group.addEventListener("click", function (event) { event.stopPropagation(); select(i); });
      chartItems.push(group);
      return group;
    }

    function label(group, text, lx, ly, anchor) {
      var node = svg("text", { x: lx, y: ly, "class": "label", "text-anchor": anchor || "middle" }, group);
      node.textContent = shorten(text, 24);
    }

    function arrow(group, x1, y1, x2, y2, head) {
      var attrs = { x1: x1, y1: y1, x2: x2, y2: y2 };
      svg("line", Object.assign({ "class": "hit" }, attrs), group);
      var line = svg("line", attrs, group);
      if (head) line.setAttribute("marker-end", "url(#" + head + ")");
    }

    var sends = [];
    function recordSends(step, i) {
      ((step.meta && step.meta.sends) || []).forEach(function (message) {
        sends.push({ key: messageKey(message), message: message, row: i, used: false });
      });
    }
    function sendOf(message, consume) {
      var key = messageKey(message);
      var found = null;
      for (var k = sends.length - 1; k >= 0; k--) {
        if (sends[k].key === key && !sends[k].used) { found = sends[k]; break; }
      }
      if (!found) {
        for (var j = sends.length - 1; j >= 0; j--) {
          if (sends[j].key === key) { found = sends[j]; break; }
        }
      }
      if (!found) {
        found = { key: key, message: message, row: 0, used: false, virtual: true };
        sends.push(found);
      }
      if (consume) found.used = true;
      return found;
    }

    steps.forEach(function (step, i) {
      var m = step.meta || {};
      var kind = m.kind;
      var msg = m.message;
      if (msg && (kind === "deliver" || kind === "drop" || kind === "duplicate")) {
        var sent = sendOf(msg, kind !== "duplicate");
        var x1 = x(msg.src), y1 = y(sent.row), x2 = x(msg.dst), y2 = y(i);
        var text = msg.label;
        if (kind === "deliver") {
          var g = item("msg deliver", i, "step " + i + ": deliver " + msg.src + " → " + msg.dst +
                       ": " + text + " (sent at step " + sent.row + ")");
          if (msg.src === msg.dst) {
            var loop = "M " + x1 + " " + y1 + " C " + (x1 + 50) + " " + y1 + ", " + (x1 + 50) + " " + y2 + ", " + (x2 + 4) + " " + y2;
            svg("path", { d: loop, "class": "hit" }, g);
            svg("path", { d: loop, "marker-end": "url(#head-deliver)" }, g);
            label(g, text, x1 + 44, (y1 + y2) / 2, "start");
          } else {
            arrow(g, x1, y1, x2, y2, "head-deliver");
            label(g, text, x2 + (x1 < x2 ? -10 : 10), y2 - 5, x1 < x2 ? "end" : "start");
          }
        } else if (kind === "drop") {
          var gd = item("msg drop", i, "step " + i + ": drop " + msg.src + " → " + msg.dst + ": " + text);
          var mx = (x1 + x2) / 2;
          arrow(gd, x1, y1, mx, y2, null);
          svg("path", { d: "M " + (mx - 6) + " " + (y2 - 6) + " L " + (mx + 6) + " " + (y2 + 6) +
                        " M " + (mx - 6) + " " + (y2 + 6) + " L " + (mx + 6) + " " + (y2 - 6),
                        stroke: "#c62828", "stroke-width": 2.5 }, gd);
          label(gd, "drop " + text, mx, y2 - 9);
        } else {
          var gu = item("msg duplicate", i, "step " + i + ": duplicate " + msg.src + " → " + msg.dst + ": " + text);
          var ux = (x1 + x2) / 2;
          arrow(gu, x1, y1, ux, y2, "head-duplicate");
          label(gu, "×2 " + text, ux, y2 - 7);
        }
      } else if (kind && m.actor !== undefined) {
        var ax = x(m.actor), ay = y(i);
        var ge = item("event " + kind, i, "step " + i + ": " + step.action);
        svg("rect", { x: ax - 14, y: ay - 10, width: 28, height: 20, "class": "hit" }, ge);
        if (kind === "crash") {
          svg("path", { d: "M " + (ax - 8) + " " + (ay - 8) + " L " + (ax + 8) + " " + (ay + 8) +
                        " M " + (ax - 8) + " " + (ay + 8) + " L " + (ax + 8) + " " + (ay - 8) }, ge);
          label(ge, "crash", ax + 12, ay + 4, "start");
          down[m.actor] = i;
        } else if (kind === "restart") {
          svg("circle", { cx: ax, cy: ay, r: 7 }, ge);
          label(ge, "restart", ax + 12, ay + 4, "start");
          if (down[m.actor] !== undefined) {
            svg("line", { x1: ax, y1: y(down[m.actor]), x2: ax, y2: ay, "class": "down" }, lines);
            delete down[m.actor];
          }
        } else if (kind === "timeout") {
          svg("rect", { x: ax - 6, y: ay - 6, width: 12, height: 12, transform: "rotate(45 " + ax + " " + ay + ")" }, ge);
          label(ge, "timeout " + (m.timer || ""), ax + 12, ay + 4, "start");
        } else {
          svg("rect", { x: ax - 5, y: ay - 5, width: 10, height: 10 }, ge);
          label(ge, step.name || step.action, ax + 12, ay + 4, "start");
        }
      }
      recordSends(step, i);
    });
    Object.keys(down).forEach(function (node) {
      svg("line", { x1: x(node), y1: y(down[node]), x2: x(node), y2: height - 8, "class": "down" }, lines);
    });
    sends.forEach(function (send) {
      if (send.used || send.virtual) return;
      var message = send.message;
      var g = item("msg inflight", send.row, "sent at step " + send.row + ", never delivered: " +
                   message.src + " → " + message.dst + ": " + message.label);
      var x1 = x(message.src), x2 = x(message.dst), endY = height - 12;
      arrow(g, x1, y(send.row), x1 + (x2 - x1) * 0.35, endY, "head-inflight");
    });
    document.getElementById("chart").appendChild(root);
  }

  function highlightChart(i) {
    chartItems.forEach(function (node) {
      node.classList.toggle("current", node.dataset.step === String(i));
    });
  }

  /* ---- selection and keys ---------------------------------------------------------------- */

  function select(i) {
    i = Math.max(0, Math.min(last, i));
    if (i === current) return;
    if (current >= 0) {
      items[current].classList.remove("selected");
      items[current].removeAttribute("aria-selected");
    }
    current = i;
    items[i].classList.add("selected");
    items[i].setAttribute("aria-selected", "true");
    items[i].scrollIntoView({ block: "nearest" });
    renderState(i);
    renderProperties(i);
    highlightChart(i);
    document.body.dataset.step = String(i);
    if (window.history && history.replaceState) {
      try { history.replaceState(null, "", "#step=" + i); } catch (ignored) { /* file: URLs */ }
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
    var moves = { ArrowDown: 1, ArrowRight: 1, j: 1, ArrowUp: -1, ArrowLeft: -1, k: -1 };
    if (event.key in moves) select(current + moves[event.key]);
    else if (event.key === "Home") select(0);
    else if (event.key === "End") select(last);
    else return;
    event.preventDefault();
  });

  document.getElementById("hide-unchanged").addEventListener("change", function (event) {
    document.getElementById("state").classList.toggle("hide-unchanged", event.target.checked);
  });
  document.getElementById("expand-all").addEventListener("click", function () {
    document.querySelectorAll("#state details").forEach(function (d) { d.open = true; });
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    document.querySelectorAll("#state details.same").forEach(function (d) { d.open = false; });
  });

  function stepInAddress() {
    var match = /step=(\d+)/.exec(window.location.hash);
    return match ? Number(match[1]) : null;
  }

  window.addEventListener("hashchange", function () {
    var wanted = stepInAddress();
    if (wanted !== null) select(wanted);
  });

  buildChart();
  var first = stepInAddress();
  select(first === null ? last : first);
}());
