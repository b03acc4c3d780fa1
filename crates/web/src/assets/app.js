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
