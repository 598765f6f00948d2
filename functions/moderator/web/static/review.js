// Blurred images are shown (and blurred again) by their button: mouse, Enter or Space.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.reveal");
  if (!button) return;
  const shown = button.getAttribute("aria-pressed") === "true";
  button.setAttribute("aria-pressed", String(!shown));
  button.querySelector(".reveal-hint").textContent = shown ? "Show image" : "Blur image";
});
