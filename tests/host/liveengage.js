// A scripted stand-in for LiveEngage's Agent Workspace Widget SDK: the same methods
// (init, get, bind, command, cmdNames), a fixed visitor, and every command recorded in
// window.__commands for the test to read. A file, not an inline script: the server's
// Content-Security-Policy allows scripts from this origin only.
window.__commands = [];
window.__calls = [];
window.lpTag = {
  agentSDK: {
    cmdNames: { write: "Write ChatLine" },
    init: function (opts) { window.__calls.push("init"); },
    get: function (path, onSuccess, onError) {
      window.__calls.push("get " + path);
      if (path === "visitorInfo.visitorName") onSuccess("Ann Lee");
      else if (onError) onError({ message: "unknown path " + path });
    },
    bind: function (path, cb) {
      window.__calls.push("bind " + path);
      if (path === "chatTranscript.lines") cb({ key: path, newValue: [] });
    },
    command: function (name, data, cb) {
      window.__commands.push({ name: name, data: data });
      if (cb) cb(null);
    },
  },
};

var id = new URLSearchParams(location.search).get("conversation") || "";
document.getElementById("widget").src = "/widget?conversation=" + encodeURIComponent(id);
