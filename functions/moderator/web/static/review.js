// The review page's only script, served by the page itself (CSP script-src 'self').
// Everything here is a shortcut: every action is also a plain link, button or form.
"use strict";

// Blurred images are shown (and blurred again) by their button: mouse, Enter or Space.
function toggleReveal(button) {
  const shown = button.getAttribute("aria-pressed") === "true";
  button.setAttribute("aria-pressed", String(!shown));
  const hint = button.querySelector(".reveal-hint");
  if (hint) hint.textContent = shown ? "Show image" : "Blur image";
}

// Copy a key: the Clipboard API where the page is a secure context (127.0.0.1 is), else a selection.
function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.appendChild(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

document.addEventListener("click", (event) => {
  const reveal = event.target.closest("button.reveal");
  if (reveal) {
    toggleReveal(reveal);
    return;
  }
  const copy = event.target.closest("button.copy");
  if (copy) {
    copyText(copy.dataset.copy || "").then(
      () => { copy.textContent = "Copied"; },
      () => { copy.textContent = "Copy failed"; },
    );
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  }
});

// --- bulk selection ---------------------------------------------------------------------------

function boxes() {
  return Array.from(document.querySelectorAll('input[type="checkbox"][name="selected"]'));
}

function showSelected() {
  const count = boxes().filter((box) => box.checked).length;
  const label = document.querySelector("[data-selected-count]");
  if (label) label.textContent = count ? `${count} selected` : "";
  const all = document.querySelector("[data-select-all]");
  if (all) {
    const total = boxes().length;
    all.checked = total > 0 && count === total;
    all.indeterminate = count > 0 && count < total;
  }
}

document.addEventListener("change", (event) => {
  if (event.target.matches("[data-select-all]")) {
    for (const box of boxes()) box.checked = event.target.checked;
  }
  if (event.target.matches("[data-select-all], input[name='selected']")) showSelected();
});

// --- keyboard: j/k move, x select, space show, a approve, r reject ----------------------------

function rows() {
  return Array.from(document.querySelectorAll("tr[data-row]"));
}

function currentRow() {
  return document.querySelector("tr[data-row].current");
}

function move(step) {
  const all = rows();
  if (!all.length) return;
  const index = all.indexOf(currentRow());
  const next = all[Math.min(all.length - 1, Math.max(0, index < 0 ? 0 : index + step))];
  for (const row of all) row.classList.toggle("current", row === next);
  next.focus();
  next.scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  const target = event.target;
  // Typing in a field, or a key on a focused control (Space presses a button), is left alone.
  if (target.closest("input, textarea, select, [contenteditable]")) return;
  if (event.key === " " && target.closest("button, a")) return;
  const row = currentRow();
  switch (event.key) {
    case "j":
      move(1);
      break;
    case "k":
      move(-1);
      break;
    case " ": {
      const reveal = row && row.querySelector("button.reveal");
      if (!reveal) return;
      toggleReveal(reveal);
      break;
    }
    case "x": {
      const box = row && row.querySelector("input[name='selected']");
      if (!box) return;
      box.checked = !box.checked;
      showSelected();
      break;
    }
    case "a": {
      const approve = row && row.querySelector("[data-action='approve']");
      if (!approve) return;
      approve.click();
      break;
    }
    case "r": {
      const reject = row && row.querySelector("[data-action='reject']");
      if (!reject) return;
      reject.click();
      break;
    }
    default:
      return;
  }
  event.preventDefault();
});

// A page restored from the back/forward cache keeps its ticks: recount them.
window.addEventListener("pageshow", showSelected);

// A rejected image whose preview the content memory no longer holds: say so instead of a broken image.
document.addEventListener(
  "error",
  (event) => {
    const image = event.target;
    if (!(image instanceof HTMLImageElement) || !image.closest(".side-by-side")) return;
    const button = image.closest("button.reveal");
    if (!button || !image.src.includes("/rejected-preview")) return;
    const note = document.createElement("span");
    note.className = "gone-image small";
    note.textContent = "no preview";
    note.title = "The content memory keeps no preview of the rejected image";
    button.replaceWith(note);
  },
  true,
);
