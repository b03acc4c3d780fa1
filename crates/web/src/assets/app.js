// Chamberlain's one script. Every page works without it; it adds copy buttons and asks for
// confirmation before forms marked with data-confirm are sent.
"use strict";
document.addEventListener("click", (e) => {
  const b = e.target.closest("[data-copy]");
  if (!b) return;
  const src = document.getElementById(b.dataset.copy);
  if (!src) return;
  const text = src.value !== undefined ? src.value : src.textContent;
  navigator.clipboard.writeText(text).then(
    () => { b.textContent = "Copied"; setTimeout(() => { b.textContent = "Copy"; }, 1500); },
    () => { if (src.select) src.select(); },
  );
});
document.addEventListener("submit", (e) => {
  const f = e.target;
  if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) e.preventDefault();
});
// Live validation of CEL fields (textarea[data-cel-purpose]): the markers appear under the
// field as you type; saving validates again on the server, so this is only a convenience.
const celTimers = new WeakMap();
async function validateCel(t) {
  const out = document.getElementById(t.id + "-markers");
  const csrf = t.form && t.form.querySelector("input[name=csrf]");
  if (!out || !csrf) return;
  if (!t.value.trim()) {
    out.replaceChildren();
    out.className = "cel-markers";
    t.removeAttribute("aria-invalid");
    return;
  }
  const body = new URLSearchParams({ csrf: csrf.value, purpose: t.dataset.celPurpose, text: t.value });
  let j;
  try {
    const r = await fetch("/admin/cel/validate", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    if (!r.ok) return;
    j = await r.json();
  } catch {
    return;
  }
  const items = j.markers.length
    ? j.markers.map((m) => `Line ${m.line}, column ${m.column}: ${m.message}`)
    : ["Valid expression"];
  out.replaceChildren(...items.map((s) => Object.assign(document.createElement("li"), { textContent: s })));
  out.className = "cel-markers " + (j.markers.length ? "error" : "ok");
  t.setAttribute("aria-invalid", j.markers.length ? "true" : "false");
}
document.addEventListener("input", (e) => {
  const t = e.target.closest && e.target.closest("textarea[data-cel-purpose]");
  if (!t) return;
  clearTimeout(celTimers.get(t));
  celTimers.set(t, setTimeout(() => validateCel(t), 300));
});
// Merge rules can be reordered by dragging (the Move up / Move down buttons do the same without
// the script): dropping a rule submits the form with the matching move button, one step at a time.
let dragged = null;
document.addEventListener("dragstart", (e) => {
  const li = e.target.closest && e.target.closest("li.rule[draggable]");
  if (!li) return;
  dragged = li;
  li.classList.add("dragging");
});
document.addEventListener("dragend", () => {
  if (dragged) dragged.classList.remove("dragging");
  dragged = null;
});
document.addEventListener("dragover", (e) => {
  if (dragged && e.target.closest && e.target.closest("li.rule")) e.preventDefault();
});
document.addEventListener("drop", (e) => {
  const target = e.target.closest && e.target.closest("li.rule");
  if (!dragged || !target || target === dragged) return;
  e.preventDefault();
  const from = Number(dragged.dataset.rule), to = Number(target.dataset.rule);
  const b = dragged.querySelector(`button[value="${to < from ? "up" : "down"}:${from}"]`);
  if (b && Math.abs(to - from) === 1) b.click();
});
// Forms with an authentication choice show only the fields of the chosen method.
function showAuth(sel) {
  const form = sel.form;
  if (!form) return;
  form.querySelectorAll("fieldset[data-auth]").forEach((fs) => {
    fs.hidden = !fs.dataset.auth.split(" ").includes(sel.value);
  });
}
document.querySelectorAll("[data-auth-select] select").forEach((sel) => {
  showAuth(sel);
  sel.addEventListener("change", () => showAuth(sel));
});
