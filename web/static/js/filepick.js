// File inputs drawn by _filepick.html: show the chosen file's name next to the button
// (the name is the user's own text), and the empty text again when the form is reset.
function show(input) {
  const out = input.parentElement.querySelector("[data-file-name]");
  if (!out) return;
  const file = input.files && input.files[0];
  out.textContent = file ? file.name : out.dataset.empty;
  if (file) out.dataset.user = ""; else delete out.dataset.user;
}

for (const input of document.querySelectorAll("[data-file-pick]")) {
  input.addEventListener("change", () => show(input));
  input.form?.addEventListener("reset", () => setTimeout(() => show(input)));
}
