// leadflow's small amount of page behaviour: toasts, bulk selection, and the pipeline board's drag and drop.
(function () {
  "use strict";

  function csrfToken() {
    const headers = document.body.getAttribute("hx-headers");
    return headers ? JSON.parse(headers)["X-CSRFToken"] : "";
  }

  function showToast(text, kind) {
    const toast = document.getElementById("toast");
    if (!toast) return;
    toast.innerHTML = "";
    const message = document.createElement("div");
    message.className = "message " + (kind || "error");
    message.textContent = text;
    toast.appendChild(message);
    clearTimeout(showToast.timer);
    showToast.timer = setTimeout(function () { toast.innerHTML = ""; }, 6000);
  }

  // A server answer may ask for a toast (HX-Trigger: {"toast": {"text": …, "kind": …}}).
  document.addEventListener("toast", function (event) {
    showToast(event.detail.text, event.detail.kind);
  });

  // A refused htmx request says why instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    showToast(event.detail.xhr.responseText || "The request was refused.");
  });

  // Bulk selection on the leads table.
  function updateBulkCount(form) {
    const count = form.querySelectorAll('input[name="lead_ids"]:checked').length;
    const label = form.querySelector("#bulk-count");
    if (label) label.textContent = count + " selected";
  }
  document.addEventListener("change", function (event) {
    const form = event.target.closest("#bulk-form");
    if (!form) return;
    if (event.target.matches("[data-select-all]")) {
      form.querySelectorAll('input[name="lead_ids"]').forEach(function (box) { box.checked = event.target.checked; });
    }
    updateBulkCount(form);
  });

  // The pipeline board.
  function post(url, data) {
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
      body: data,
      credentials: "same-origin",
    });
  }

  function refreshBoard() {
    const filters = document.querySelector('form[hx-target="#board"]');
    const query = filters ? new URLSearchParams(new FormData(filters)).toString() : "";
    return htmx.ajax("GET", window.location.pathname + "?" + query, { target: "#board" });
  }

  function snapBack(event) {
    const from = event.from;
    const reference = from.children[event.oldIndex] || null;
    from.insertBefore(event.item, reference);
  }

  function askToClose(card, won) {
    return new Promise(function (resolve) {
      const dialog = document.getElementById("close-dialog");
      const form = document.getElementById("close-form");
      form.reset();
      form.elements.won.value = won ? "1" : "0";
      document.getElementById("lost-reason-field").hidden = won;
      form.elements.lost_reason.setAttribute("aria-required", String(!won));
      document.getElementById("close-title").textContent = won ? "Close won" : "Close lost";
      document.getElementById("close-deal-name").textContent = card.dataset.name;
      document.getElementById("close-error").textContent = "";
      function finish(answer) {
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        dialog.close();
        resolve(answer);
      }
      function onSubmit(event) {
        event.preventDefault();
        if (!won && !form.elements.lost_reason.value) {
          document.getElementById("close-error").textContent = "Choose a lost reason.";
          form.elements.lost_reason.focus();
          return;
        }
        finish(new FormData(form));
      }
      function onCancel(event) { event.preventDefault(); finish(null); }
      const cancel = form.querySelector("[data-close-cancel]");
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
    });
  }

  async function onDrop(event) {
    if (event.from === event.to) return;
    const card = event.item;
    const target = event.to.dataset;
    const id = card.dataset.opportunityId;
    let response;
    if (target.stageKind === "won" || target.stageKind === "lost") {
      const data = await askToClose(card, target.stageKind === "won");
      if (!data) { snapBack(event); return; }
      response = await post("/opportunities/" + id + "/close/", data);
    } else {
      const data = new FormData();
      data.append("stage", target.stageId);
      response = await post("/opportunities/" + id + "/move/", data);
    }
    if (!response.ok) {
      snapBack(event);
      showToast(await response.text());
      return;
    }
    await refreshBoard();  // the toast comes once the board shows the move, ready for the next one
    showToast("Moved " + card.dataset.name + " to " + target.stageName + ".", "success");
  }

  // The keyboard's way to move a card: its "Move to…" list does what a drag does.
  document.addEventListener("change", function (event) {
    const select = event.target;
    if (!select.matches || !select.matches("select.move-to") || !select.value) return;
    const card = select.closest(".deal-card");
    const from = card.parentElement;
    const to = document.querySelector('.cards[data-stage-id="' + select.value + '"]');
    const oldIndex = Array.prototype.indexOf.call(from.children, card);
    select.value = "";
    to.prepend(card);
    onDrop({ item: card, from: from, to: to, oldIndex: oldIndex });
  });

  function initBoard(root) {
    const board = root.querySelector ? root.querySelector("[data-board]") : null;
    if (!board || typeof Sortable === "undefined" || board.dataset.canMove !== "true") return;
    board.querySelectorAll(".cards").forEach(function (list) {
      Sortable.create(list, { group: "board", animation: 150, draggable: ".deal-card", forceFallback: true, onEnd: onDrop });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { initBoard(document); });
  document.addEventListener("htmx:afterSettle", function (event) { initBoard(event.detail.elt.parentElement || document); });
})();
