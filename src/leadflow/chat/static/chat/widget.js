/* leadflow chat widget: <script async src="https://CRM/chat/widget.js" data-site="KEY"></script>
 * Shows a chat button on pages the site's chat scripts are offered on; the conversation follows the visitor from
 * page to page (its signed token is kept in this site's localStorage). Works alone; with the tracking snippet on
 * the page it sends the snippet's visitor id, so the conversation joins the visitor's history. Keyboard: Tab to
 * the buttons, Enter sends, Escape closes. */
(function (w, d) {
  "use strict";
  var tag = d.currentScript, key = tag && tag.getAttribute("data-site");
  if (!key || w.leadflowChat) return;
  var base = tag.src.replace(/\/chat\/widget\.js(\?.*)?$/, "");
  var endpoint = base + "/chat/" + encodeURIComponent(key) + "/";
  var TOKEN = "lf_chat_token_" + key, OPEN = "lf_chat_open_" + key;
  var state = null, ui = null, busy = false;

  function stored(name, value) {
    try {
      if (value === undefined) return w.localStorage.getItem(name);
      if (value === null) w.localStorage.removeItem(name);
      else w.localStorage.setItem(name, value);
    } catch (e) { /* storage refused (private mode): the chat still works on this page */ }
    return null;
  }
  function visitor() {
    return w.leadflow && typeof w.leadflow.visitor === "function" ? w.leadflow.visitor() || "" : "";
  }
  function call(method, path, body, retries) {
    var options = { method: method, mode: "cors", credentials: "omit" };
    if (body) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    retries = retries === undefined ? 3 : retries;
    return fetch(endpoint + path, options).then(function (response) {
      if (response.status === 503 && retries > 0) {  // the server is busy for a moment: ask again
        return new Promise(function (resolve) { setTimeout(resolve, 1000); }).then(function () {
          return call(method, path, body, retries - 1);
        });
      }
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }
  function el(name, attrs, text) {
    var node = d.createElement(name);
    Object.keys(attrs || {}).forEach(function (attr) { node.setAttribute(attr, attrs[attr]); });
    if (text) node.textContent = text;
    return node;
  }

  function build(title) {
    var link = el("link", { rel: "stylesheet", href: base + "/static/chat/widget.css" });
    d.head.appendChild(link);
    var root = el("div", { "class": "lfc" });
    var launcher = el("button", { type: "button", "class": "lfc-launcher", "aria-expanded": "false",
      "aria-controls": "lfc-panel" }, title);
    var panel = el("section", { id: "lfc-panel", "class": "lfc-panel", role: "dialog", "aria-modal": "false",
      "aria-labelledby": "lfc-title", hidden: "" });
    var head = el("div", { "class": "lfc-head" });
    var heading = el("h2", { id: "lfc-title" }, title);
    var close = el("button", { type: "button", "class": "lfc-close", "aria-label": "Close the chat" }, "×");
    head.appendChild(heading);
    head.appendChild(close);
    var log = el("ol", { "class": "lfc-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
    var choices = el("div", { "class": "lfc-choices", role: "group", "aria-label": "Answers" });
    var error = el("p", { "class": "lfc-error", role: "alert" });
    var form = el("form", { "class": "lfc-form", novalidate: "" });
    var input = el("input", { type: "text", "aria-label": "Your answer", autocomplete: "off", maxlength: "1000" });
    var send = el("button", { type: "submit", "class": "lfc-send" }, "Send");
    form.appendChild(input);
    form.appendChild(send);
    [head, log, choices, error, form].forEach(function (part) { panel.appendChild(part); });
    root.appendChild(panel);
    root.appendChild(launcher);
    d.body.appendChild(root);
    launcher.addEventListener("click", function () { if (panel.hidden) open(); else shut(); });
    close.addEventListener("click", shut);
    panel.addEventListener("keydown", function (event) { if (event.key === "Escape") shut(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      reply(input.value);
    });
    ui = { launcher: launcher, panel: panel, log: log, choices: choices, error: error, form: form, input: input,
      heading: heading };
  }

  function render() {
    ui.log.textContent = "";
    state.messages.forEach(function (message) {
      ui.log.appendChild(el("li", { "class": "lfc-" + message.author }, message.text));
    });
    ui.log.scrollTop = ui.log.scrollHeight;
    ui.choices.textContent = "";
    ui.error.textContent = "";
    var prompt = state.prompt;
    ui.form.hidden = !prompt || prompt.kind === "buttons";
    if (prompt && prompt.kind === "buttons") {
      prompt.options.forEach(function (label) {
        var button = el("button", { type: "button", "class": "lfc-choice" }, label);
        button.addEventListener("click", function () { reply(label); });
        ui.choices.appendChild(button);
      });
    } else if (prompt) {
      var kinds = { email: "email", phone: "tel", date: "date" };
      ui.input.type = kinds[prompt.kind] || "text";
      ui.input.setAttribute("inputmode", prompt.kind === "number" ? "decimal" : "text");
      ui.input.placeholder = { number: "e.g. 25000", date: "YYYY-MM-DD", email: "name@company.com" }[prompt.kind]
        || "Type your answer";
      ui.input.value = "";
    }
    if (state.finished) {
      var again = el("button", { type: "button", "class": "lfc-choice" }, "Start a new conversation");
      again.addEventListener("click", function () {
        state = null;
        stored(TOKEN, null);
        begin().then(focusPrompt);
      });
      ui.choices.appendChild(again);
    }
  }
  function focusPrompt() {
    var target = !ui.form.hidden ? ui.input : ui.choices.querySelector("button");
    (target || ui.panel.querySelector(".lfc-close")).focus();
  }

  function take(result) {
    if (result.status === 200 || result.status === 201) {
      state = result.data;
      stored(TOKEN, state.token);
      render();
      return true;
    }
    return false;
  }
  function begin() {
    busy = true;
    return call("POST", "start", { visitor: visitor(), page: w.location.href }).then(function (result) {
      busy = false;
      if (!take(result)) ui.error.textContent = (result.data && result.data.detail) || "The chat is not available.";
    });
  }
  function open() {
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    stored(OPEN, "1");
    (state ? Promise.resolve() : begin()).then(focusPrompt);
  }
  function shut() {
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    stored(OPEN, null);
    ui.launcher.focus();
  }
  function wait(waiting) {  // while an answer is on its way, nothing more can be sent
    busy = waiting;
    ui.input.disabled = waiting;
    Array.prototype.forEach.call(ui.choices.querySelectorAll("button"), function (b) { b.disabled = waiting; });
  }
  function reply(text) {
    if (busy || !state || !text.trim()) return;
    wait(true);
    call("POST", "answer", { token: state.token, answer: text }).then(function (result) {
      wait(false);
      if (take(result)) return focusPrompt();
      if (result.status === 404) {  // the conversation is gone: start afresh
        state = null;
        stored(TOKEN, null);
        return begin().then(focusPrompt);
      }
      var errors = (result.data && result.data.errors) || {};
      ui.error.textContent = (errors.answer && errors.answer[0]) || (result.data && result.data.detail) ||
        "Something went wrong; please try again.";
      (ui.form.hidden ? ui.choices.querySelector("button") : ui.input).focus();
    }, function () {
      wait(false);
      ui.error.textContent = "The chat cannot be reached; please try again.";
    });
  }

  function offer() {
    call("GET", "offer?page=" + encodeURIComponent(w.location.href)).then(function (result) {
      if (result.status === 200) build(result.data.title);
    });
  }
  function resume(token) {
    call("POST", "start", { token: token, visitor: visitor(), page: w.location.href, resume_only: true })
      .then(function (result) {
        if (result.status !== 200) {
          stored(TOKEN, null);
          return offer();
        }
        build(result.data.title);
        take(result);
        if (stored(OPEN) === "1") open();
      });
  }

  w.leadflowChat = { open: function () { if (ui) open(); } };
  var token = stored(TOKEN);
  if (token) resume(token);
  else offer();
})(window, document);
