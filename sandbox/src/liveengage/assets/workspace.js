// The sandbox's LiveEngage agent workspace (sandbox/src/liveengage/agent.rs): the open
// conversations, the selected one's lines, the compose box (Send, Close conversation),
// and the widget in its iframe, served through the SDK (client-SDK.js) by postMessage.
(function () {
  "use strict";

  var PROTOCOL = "lp-agent-sdk/1";
  var POLL_MS = 500;
  var account = document.body.getAttribute("data-account");
  var frame = document.getElementById("le-widget");
  var widgetOrigin = new URL(frame.src, location.href).origin;
  var list = document.getElementById("le-conversations");
  var listEmpty = document.getElementById("le-list-empty");
  var title = document.getElementById("le-conversation-title");
  var linesEl = document.getElementById("le-lines");
  var form = document.getElementById("le-compose");
  var text = document.getElementById("le-compose-text");
  var error = document.getElementById("le-compose-error");
  var closeButton = document.getElementById("le-close");
  var status = document.getElementById("le-widget-status");

  // The open conversations as last fetched, the selected one's id, and what was drawn.
  var conversations = [];
  var selected = null;
  var drawnList = "";
  var drawnLines = "";

  // The widget's side: whether it called init, its bindings by id ({path, last}), and
  // how many lines of the selected conversation its transcript bindings were given.
  var widget = { inited: false, bindings: {}, linesGiven: 0, shownFor: null };

  function current() {
    for (var i = 0; i < conversations.length; i++) {
      if (conversations[i].id === selected) return conversations[i];
    }
    return null;
  }

  function sde(c, type) {
    var sdes = (c && c.sdes) || [];
    for (var i = 0; i < sdes.length; i++) if (sdes[i] && sdes[i].type === type) return sdes[i];
    return null;
  }

  function line(c, l) {
    var agent = l.role === "ASSIGNED_AGENT";
    return {
      time: l.at,
      type: "line",
      textType: l.text != null ? "plain" : "file",
      text: l.text != null ? l.text : (l.file && l.file.caption) || "",
      by: agent ? "Agent" : c.visitor_name,
      source: agent ? "agent" : "visitor",
      sequence: l.sequence,
    };
  }

  // The public model the SDK reads: each path's value for conversation `c` (or none).
  var MODEL = {
    "chatInfo.rtSessionId": function (c) { return c ? c.id : ""; },
    "chatInfo.accountId": function () { return account; },
    "chatInfo.chatSkill": function (c) { return c && c.skill_id ? c.skill_id : ""; },
    "chatInfo.isMessaging": function () { return true; },
    "visitorInfo.visitorName": function (c) { return c ? c.visitor_name : ""; },
    "visitorInfo.visitorId": function (c) { return c ? c.consumer_id : ""; },
    "SDE.customerDetails": function (c) {
      var info = sde(c, "ctmrinfo");
      return info ? info.info || {} : {};
    },
    "SDE.personalInfo": function (c) {
      var p = sde(c, "personal");
      return p ? p.personal || {} : {};
    },
    "chatTranscript.lines": function (c) {
      return c ? c.lines.map(function (l) { return line(c, l); }) : [];
    },
  };

  function toWidget(message) {
    if (!frame.contentWindow) return;
    message.protocol = PROTOCOL;
    frame.contentWindow.postMessage(message, widgetOrigin);
  }

  function setStatus() {
    status.textContent = widget.inited ? "Social Widget: connected" : "Social Widget: not connected";
  }

  function resetWidget() {
    widget = { inited: false, bindings: {}, linesGiven: 0, shownFor: null };
    setStatus();
  }

  function write(data) {
    if (typeof data.text !== "string") return "Write ChatLine needs {text}";
    if (!current()) return "no conversation is selected";
    var before = text.value;
    text.value = before && !/\s$/.test(before) ? before + " " + data.text : before + data.text;
    error.textContent = "";
    return null;
  }

  var COMMANDS = {
    "Write ChatLine": write,
    "Send Notification": function () { return null; },
  };

  window.addEventListener("message", function (e) {
    if (e.source !== frame.contentWindow || e.origin !== widgetOrigin) return;
    var m = e.data;
    if (!m || m.protocol !== PROTOCOL) return;
    if (m.type === "init") {
      widget = { inited: true, bindings: {}, linesGiven: 0, shownFor: selected };
      setStatus();
      return;
    }
    if (!widget.inited) {
      if (m.id) toWidget({ type: "error", id: m.id, message: "call init first" });
      return;
    }
    var c = current();
    switch (m.type) {
      case "get":
        if (!MODEL.hasOwnProperty(m.path)) {
          toWidget({ type: "error", id: m.id, message: "no such path: " + m.path });
        } else {
          toWidget({ type: "value", id: m.id, value: MODEL[m.path](c) });
        }
        break;
      case "bind":
        if (!MODEL.hasOwnProperty(m.path)) {
          toWidget({ type: "error", id: m.id, message: "no such path: " + m.path });
          break;
        }
        var value = MODEL[m.path](c);
        widget.bindings[m.id] = { path: m.path, last: JSON.stringify(value) };
        if (m.path === "chatTranscript.lines") widget.linesGiven = value.length;
        toWidget({ type: "bound", id: m.id });
        toWidget({ type: "update", id: m.id, key: m.path, newValue: value });
        break;
      case "unbind":
        delete widget.bindings[m.id];
        break;
      case "command":
        var run = COMMANDS[m.name];
        var why = run ? run(m.data || {}) : "unknown command: " + m.name;
        toWidget(why ? { type: "error", id: m.id, message: why } : { type: "done", id: m.id });
        break;
      case "dispose":
        resetWidget();
        break;
    }
  });

  // Tells the widget's bindings what changed: a switch gives every binding its new value
  // (the transcript: all of the new conversation's lines), new lines only the new ones.
  function notifyWidget() {
    if (!widget.inited) return;
    var c = current();
    var switched = widget.shownFor !== selected;
    if (switched) {
      if (widget.shownFor) toWidget({ type: "blur" });
      if (selected) toWidget({ type: "focus" });
    }
    var lines = MODEL["chatTranscript.lines"](c);
    Object.keys(widget.bindings).forEach(function (id) {
      var b = widget.bindings[id];
      if (b.path === "chatTranscript.lines") {
        var fresh = switched ? lines : lines.slice(widget.linesGiven);
        if (switched || fresh.length) {
          toWidget({ type: "update", id: Number(id), key: b.path, newValue: fresh });
        }
        return;
      }
      var value = MODEL[b.path](c);
      var json = JSON.stringify(value);
      if (json !== b.last) {
        b.last = json;
        toWidget({ type: "update", id: Number(id), key: b.path, newValue: value });
      }
    });
    widget.linesGiven = lines.length;
    widget.shownFor = selected;
  }

  function select(id) {
    selected = id;
    error.textContent = "";
    draw();
    notifyWidget();
  }

  function drawList() {
    var key = JSON.stringify(conversations.map(function (c) {
      return [c.id, c.visitor_name, c.lines.length, c.id === selected];
    }));
    if (key === drawnList) return;
    drawnList = key;
    var focusedId = document.activeElement && document.activeElement.getAttribute("data-conversation");
    list.textContent = "";
    listEmpty.hidden = conversations.length > 0;
    conversations.forEach(function (c) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "le-list__item";
      button.setAttribute("data-conversation", c.id);
      button.setAttribute("aria-pressed", String(c.id === selected));
      button.setAttribute("aria-describedby", "le-last-" + c.id);
      button.textContent = c.visitor_name;
      button.addEventListener("click", function () { select(c.id); });
      var last = document.createElement("span");
      last.className = "le-list__last";
      last.id = "le-last-" + c.id;
      var l = c.lines[c.lines.length - 1];
      last.textContent = l ? (l.text != null ? l.text : "File") : "New conversation";
      li.appendChild(button);
      li.appendChild(last);
      list.appendChild(li);
      if (focusedId === c.id) button.focus();
    });
  }

  function drawLines() {
    var c = current();
    var key = c ? c.id + ":" + c.lines.length : "";
    if (key === drawnLines) return;
    drawnLines = key;
    linesEl.textContent = "";
    title.textContent = c ? c.visitor_name : "Select a conversation";
    form.hidden = !c;
    if (!c) return;
    c.lines.forEach(function (l) {
      var li = document.createElement("li");
      var agent = l.role === "ASSIGNED_AGENT";
      li.className = agent ? "le-line le-line--agent" : "le-line";
      var who = document.createElement("span");
      who.className = "le-line__who";
      who.textContent = agent ? "Agent" : c.visitor_name;
      li.appendChild(who);
      var body = document.createElement("span");
      body.className = "le-line__text";
      if (l.text != null) {
        body.textContent = l.text;
      } else if (l.file) {
        var a = document.createElement("a");
        a.href = "/liveengage/swift" + l.file.relative_path;
        a.textContent = "File (" + l.file.file_type + ")" + (l.file.caption ? ": " + l.file.caption : "");
        body.appendChild(a);
      }
      li.appendChild(body);
      linesEl.appendChild(li);
    });
    linesEl.scrollTop = linesEl.scrollHeight;
  }

  function draw() {
    drawList();
    drawLines();
  }

  function refresh() {
    return fetch("/liveengage/agent/api/conversations?account=" + encodeURIComponent(account))
      .then(function (r) { return r.json(); })
      .then(function (all) {
        conversations = all.filter(function (c) { return c.open; });
        // A conversation closed (here or by the connector) is no longer selected.
        if (selected && !current()) selected = null;
        draw();
        notifyWidget();
      });
  }

  function poll() {
    refresh().catch(function () {}).then(function () { setTimeout(poll, POLL_MS); });
  }

  function act(path, body) {
    return fetch("/liveengage/agent/api/conversations/" + encodeURIComponent(selected) + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().then(function (answer) {
        if (!r.ok) throw new Error(answer.error || "refused");
      });
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!selected) return;
    if (!text.value.trim()) {
      error.textContent = "Write a message first.";
      return;
    }
    act("/messages", { text: text.value })
      .then(function () {
        text.value = "";
        error.textContent = "";
        return refresh();
      })
      .catch(function (err) { error.textContent = "Not sent: " + err.message; });
  });

  // Ctrl+Enter sends, as in LiveEngage's compose box.
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  closeButton.addEventListener("click", function () {
    if (!selected) return;
    act("/close")
      .then(function () {
        text.value = "";
        return refresh();
      })
      .catch(function (err) { error.textContent = "Not closed: " + err.message; });
  });

  setStatus();
  poll();
})();
