/* leadflow tracking snippet: <script async src="https://CRM/t/leadflow.js" data-site="KEY"></script>
 * First-party: a visitor id in a cookie of the site's own, page views, outbound and download clicks and
 * leadflow.track(name, properties), sent in beacons of at most 20 events to the CRM that served this file.
 * Nothing is sent under Do-Not-Track or Global Privacy Control, nor, when the tag says data-consent="required",
 * before the page calls leadflow.consent(true). */
(function (w, d) {
  "use strict";
  var script = d.currentScript, key = script && script.getAttribute("data-site");
  if (!key || (w.leadflow && w.leadflow.site)) return;
  var endpoint = script.src.replace(/\/t\/leadflow\.js(\?.*)?$/, "") + "/t/" + encodeURIComponent(key) + "/collect";
  var VISITOR = "lf_vid", CONSENT = "lf_consent", YEAR = 31536000, MAX = 20;
  var queue = [], timer = null, token = null;
  var needsConsent = script.getAttribute("data-consent") === "required";
  var optedOut = navigator.doNotTrack === "1" || w.doNotTrack === "1" || navigator.globalPrivacyControl === true;

  function cookie(name) {
    var match = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }
  function setCookie(name, value, seconds) {
    d.cookie = name + "=" + encodeURIComponent(value) + "; path=/; max-age=" + seconds + "; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
  function randomId() {
    if (w.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    (w.crypto || w.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function allowed() {
    return !optedOut && (!needsConsent || cookie(CONSENT) === "1");
  }
  function visitor() {
    var id = cookie(VISITOR);
    if (!id) id = randomId();
    setCookie(VISITOR, id, YEAR * 2); // renewed on each visit
    return id;
  }

  function send() {
    clearTimeout(timer);
    timer = null;
    if (!queue.length || !allowed()) return;
    var events = queue.splice(0, MAX), body = { v: visitor(), e: events };
    if (token) { body.t = token; token = null; }
    var json = JSON.stringify(body);
    var sent = navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([json], { type: "text/plain" }));
    if (!sent && w.fetch) {
      fetch(endpoint, { method: "POST", body: json, keepalive: true, mode: "cors", credentials: "omit",
        headers: { "Content-Type": "text/plain" } }).catch(function () {});
    }
    if (queue.length) send();
  }
  function push(event) {
    if (!allowed()) return;
    event.id = randomId();
    event.at = Date.now();
    queue.push(event);
    if (queue.length >= MAX) send();
    else if (!timer) timer = setTimeout(send, 1000);
  }
  function pageView() {
    push({ k: "page_view", u: location.href, ti: d.title.slice(0, 300), r: d.referrer });
  }

  // A reader arriving from a tracked email carries a signed token: sent once with the next beacon, then taken
  // out of the address bar so a shared link does not carry it on.
  (function readToken() {
    var params = new URLSearchParams(location.search), value = params.get("lf_id");
    if (!value) return;
    token = value;
    params.delete("lf_id");
    if (w.history && history.replaceState) {
      var query = params.toString();
      history.replaceState(history.state, "", location.pathname + (query ? "?" + query : "") + location.hash);
    }
  })();

  var DOWNLOADS = /\.(pdf|zip|docx?|xlsx?|pptx?|csv|txt|dmg|exe|msi|pkg|mp4|mp3)$/i;
  d.addEventListener("click", function (e) {
    var link = e.target && e.target.closest ? e.target.closest("a[href]") : null;
    if (!link) return;
    var url;
    try { url = new URL(link.href, location.href); } catch (err) { return; }
    if (url.protocol !== "http:" && url.protocol !== "https:") return;
    if (link.hasAttribute("download") || DOWNLOADS.test(url.pathname)) {
      push({ k: "download", u: url.href, ti: (link.textContent || "").trim().slice(0, 300), r: location.href });
    } else if (url.host !== location.host) {
      push({ k: "outbound", u: url.href, ti: (link.textContent || "").trim().slice(0, 300), r: location.href });
    }
    send(); // the page may be leaving
  }, true);
  d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") send(); });
  w.addEventListener("pagehide", send);

  w.leadflow = {
    site: key,
    /** Record a custom event, e.g. leadflow.track("webinar_registration", {webinar: "Spring"}). */
    track: function (name, properties) {
      push({ k: "custom", n: String(name).slice(0, 100), u: location.href, p: properties || {} });
    },
    /** The visitor's answer to the site's consent banner: true starts tracking, false stops it and forgets them. */
    consent: function (given) {
      if (given) {
        setCookie(CONSENT, "1", YEAR);
        if (!optedOut && !sentFirstView) { sentFirstView = true; pageView(); }
      } else {
        setCookie(CONSENT, "0", YEAR);
        setCookie(VISITOR, "", 0);
        queue = [];
      }
    },
    /** The visitor id a leadflow form on this page posts, so the visit joins the person who sends it. */
    visitor: function () { return allowed() ? visitor() : null; },
    flush: send
  };
  var sentFirstView = allowed();
  if (sentFirstView) pageView();
})(window, document);
