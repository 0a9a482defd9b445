// The sandbox's LiveEngage Agent Workspace Widget SDK: `lpTag.agentSDK` for a widget
// that the agent workspace (sandbox/src/liveengage/agent.rs) hosts in an iframe. The same
// methods as LivePerson's client-SDK.js (init, get, bind, unbind, command, cmdNames,
// dispose), talking to the workspace page by postMessage.
//
// Strict where LivePerson's is: init first (anything else before it throws), a callback
// for bind, an object of data for command. Messages go to the workspace's origin only
// (this script's own: the workspace serves its SDK) and only messages from the parent
// window at that origin are read.
(function () {
  "use strict";

  var PROTOCOL = "lp-agent-sdk/1";
  var script = document.currentScript;
  var hostOrigin = script ? new URL(script.src, location.href).origin : null;
  var host = window.parent;
  var framed = host && host !== window;
  var nextId = 0;
  var inited = false;
  var options = {};
  // Requests waiting for their answer, by id: {ok, err} for get, {done} for command.
  var pending = {};
  // Bindings by id: {path, cb, done}.
  var bindings = {};

  function send(message) {
    message.protocol = PROTOCOL;
    host.postMessage(message, hostOrigin);
  }

  function requireInit(method) {
    if (!inited) {
      throw new Error("lpTag.agentSDK." + method + ": call lpTag.agentSDK.init first");
    }
  }

  function call(fn) {
    if (typeof fn !== "function") return;
    var args = Array.prototype.slice.call(arguments, 1);
    try {
      fn.apply(null, args);
    } catch (e) {
      // A widget's callback failing must not stop the SDK.
      setTimeout(function () { throw e; });
    }
  }

  window.addEventListener("message", function (e) {
    if (e.source !== host || e.origin !== hostOrigin) return;
    var m = e.data;
    if (!m || m.protocol !== PROTOCOL) return;
    var p = pending[m.id];
    var b = bindings[m.id];
    switch (m.type) {
      case "value":
        if (p) { delete pending[m.id]; call(p.ok, m.value); }
        break;
      case "error":
        if (p) {
          delete pending[m.id];
          call(p.err || p.done, { message: m.message });
        } else if (b) {
          delete bindings[m.id];
          call(b.done, { message: m.message });
        }
        break;
      case "done":
        if (p) { delete pending[m.id]; call(p.done, null); }
        break;
      case "bound":
        if (b) call(b.done, null);
        break;
      case "update":
        if (b) call(b.cb, { key: m.key, newValue: m.newValue });
        break;
      case "focus":
        call(options.visitorFocusedCallback);
        break;
      case "blur":
        call(options.visitorBlurredCallback);
        break;
      case "notification":
        call(options.notificationCallback, m.data);
        break;
    }
  });

  var agentSDK = {
    cmdNames: {
      write: "Write ChatLine",
      notify: "Send Notification",
      sendFile: "Send File",
    },

    init: function (opts) {
      if (!framed || !hostOrigin) {
        throw new Error("lpTag.agentSDK.init: the widget must run in the agent workspace's iframe");
      }
      options = opts || {};
      if (inited) return;
      inited = true;
      send({ type: "init" });
    },

    get: function (path, onSuccess, onError) {
      requireInit("get");
      if (typeof path !== "string") throw new Error("lpTag.agentSDK.get: a path is required");
      var id = ++nextId;
      pending[id] = { ok: onSuccess, err: onError };
      send({ type: "get", id: id, path: path });
    },

    bind: function (path, callback, notifyWhenDone) {
      requireInit("bind");
      if (typeof path !== "string") throw new Error("lpTag.agentSDK.bind: a path is required");
      if (typeof callback !== "function") {
        throw new Error("lpTag.agentSDK.bind: a callback is required");
      }
      var id = ++nextId;
      bindings[id] = { path: path, cb: callback, done: notifyWhenDone };
      send({ type: "bind", id: id, path: path });
    },

    unbind: function (path, callback, notifyWhenDone) {
      requireInit("unbind");
      var found = false;
      Object.keys(bindings).forEach(function (id) {
        var b = bindings[id];
        if (b.path === path && (!callback || b.cb === callback)) {
          delete bindings[id];
          send({ type: "unbind", id: Number(id) });
          found = true;
        }
      });
      call(notifyWhenDone, found ? null : { message: "nothing is bound to " + path });
    },

    command: function (name, data, cb) {
      requireInit("command");
      if (typeof name !== "string") throw new Error("lpTag.agentSDK.command: a name is required");
      if (data === null || typeof data !== "object") {
        throw new Error("lpTag.agentSDK.command: data must be an object");
      }
      var id = ++nextId;
      pending[id] = { done: cb };
      send({ type: "command", id: id, name: name, data: data });
    },

    dispose: function () {
      if (!inited) return;
      send({ type: "dispose" });
      inited = false;
      pending = {};
      bindings = {};
    },
  };

  // The page in the frame is going: the workspace forgets its init and bindings.
  window.addEventListener("pagehide", function () {
    if (inited) send({ type: "dispose" });
  });

  window.lpTag = window.lpTag || {};
  window.lpTag.agentSDK = agentSDK;
})();
