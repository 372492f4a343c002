// Light enhancements only; every page works without JavaScript.
"use strict";

function lookup(data, path) {
  return path.split(".").reduce((obj, key) => (obj == null ? undefined : obj[key]), data);
}

// Overview: refresh the numbers every 5 s from the REST API.
function startRefresh(section) {
  const url = section.dataset.refresh;
  const tick = async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      section.querySelectorAll("[data-key]").forEach((el) => {
        const value = lookup(data, el.dataset.key);
        el.textContent = value == null ? "0" : String(value);
      });
    } catch (err) {
      // the node may be restarting; try again on the next tick
    }
  };
  setInterval(tick, 5000);
}

// Forms with data-confirm ask before they submit (discard).
function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(startRefresh);
  confirmForms();
});
