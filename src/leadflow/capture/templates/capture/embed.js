/* leadflow form embed: renders the form where this script stands (or into [data-leadflow-form="KEY"]). */
(function () {
  "use strict";
  var spec = {{ spec|safe }};
  var script = document.currentScript;
  var host = document.querySelector('[data-leadflow-form="' + spec.key + '"]');
  if (!host) { host = document.createElement("div"); script.parentNode.insertBefore(host, script); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) { node.textContent = text; }
    return node;
  }
  if (!document.querySelector('link[data-leadflow-style]')) {
    document.head.appendChild(el("link", {rel: "stylesheet", href: spec.stylesheet, "data-leadflow-style": ""}));
  }
  var box = el("div", {"class": "lf-embed"});
  host.appendChild(box);
  if (spec.title) { box.appendChild(el("h2", {}, spec.title)); }
  if (spec.intro) { box.appendChild(el("p", {"class": "lf-intro"}, spec.intro)); }
  if (spec.origins.indexOf(window.location.origin) === -1) {
    box.appendChild(el("p", {"class": "lf-error", role: "alert"}, "This form is not enabled for this site."));
    return;
  }
  var form = el("form", {"class": "lf-form", novalidate: ""});
  var params = new URLSearchParams(window.location.search);
  var hidden = {_lf_token: spec.token, _lf_door: "embed", _lf_referrer: document.referrer, _lf_page: window.location.href};
  spec.utm.forEach(function (name) { if (params.get(name)) { hidden[name] = params.get(name); } });
  Object.keys(hidden).forEach(function (name) { form.appendChild(el("input", {type: "hidden", name: name, value: hidden[name]})); });
  var trap = el("div", {"class": "lf-hp", "aria-hidden": "true"});
  var trapLabel = el("label", {}, "Website ");
  trapLabel.appendChild(el("input", {type: "text", name: spec.honeypot, tabindex: "-1", autocomplete: "off"}));
  trap.appendChild(trapLabel);
  form.appendChild(trap);
  var errors = {};
  function addField(name, control, labelText, required, help) {
    var id = "lf-" + spec.key + "-" + name;
    var wrap = el("div", {"class": "lf-field"});
    control.id = id;
    if (control.type === "checkbox") {
      var check = el("label", {"class": "lf-check"});
      check.appendChild(control);
      check.appendChild(document.createTextNode(" " + labelText));
      wrap.appendChild(check);
    } else {
      var label = el("label", {"for": id}, labelText + (required ? " *" : ""));
      wrap.appendChild(label);
      wrap.appendChild(control);
    }
    if (help) { wrap.appendChild(el("small", {}, help)); }
    var error = el("p", {"class": "lf-error", id: id + "-error", hidden: ""});
    control.setAttribute("aria-describedby", id + "-error");
    wrap.appendChild(error);
    errors[name] = {wrap: wrap, node: error};
    form.appendChild(wrap);
  }
  spec.fields.forEach(function (field) {
    var control;
    if (field.kind === "textarea") {
      control = el("textarea", {name: field.name, rows: "4"});
    } else if (field.kind === "choice") {
      control = el("select", {name: field.name});
      control.appendChild(el("option", {value: ""}, "—"));
      field.options.forEach(function (option) { control.appendChild(el("option", {value: option}, option)); });
    } else {
      var types = {email: "email", tel: "tel", number: "number", date: "date"};
      control = el("input", {name: field.name, type: types[field.kind] || "text"});
    }
    if (field.required) { control.setAttribute("required", ""); }
    addField(field.name, control, field.label, field.required, field.help);
  });
  if (spec.consent) {
    var consent = el("input", {type: "checkbox", name: "consent", value: "on"});
    addField("consent", consent, spec.consent, spec.consentRequired, "");
  }
  var status = el("p", {"class": "lf-status", role: "status", "aria-live": "polite"});
  var button = el("button", {type: "submit"}, spec.submit);
  form.appendChild(button);
  form.appendChild(status);
  box.appendChild(form);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    Object.keys(errors).forEach(function (name) { errors[name].node.hidden = true; errors[name].wrap.classList.remove("lf-invalid"); });
    button.disabled = true;
    status.textContent = "Sending…";
    var body = new URLSearchParams(new FormData(form));
    var tracker = window.leadflow;  // the tracking snippet, when the page carries it: the visit joins this person
    if (tracker && tracker.site && tracker.visitor && tracker.visitor()) {
      body.set("_lf_site", tracker.site);
      body.set("_lf_visitor", tracker.visitor());
    }
    fetch(spec.action, {method: "POST", body: body, headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json().then(function (body) { return {status: response.status, body: body}; }); })
      .then(function (answer) {
        button.disabled = false;
        if (answer.status === 201) {
          if (answer.body.redirect) { window.location.href = answer.body.redirect; return; }
          form.replaceWith(el("p", {"class": "lf-thanks", role: "status"}, answer.body.detail));
          return;
        }
        status.textContent = answer.body.detail;
        Object.keys(answer.body.errors || {}).forEach(function (name) {
          if (errors[name]) {
            errors[name].node.textContent = answer.body.errors[name].join(" ");
            errors[name].node.hidden = false;
            errors[name].wrap.classList.add("lf-invalid");
          }
        });
      })
      .catch(function () {
        button.disabled = false;
        status.textContent = "This form could not be sent from this site.";
      });
  });
})();
