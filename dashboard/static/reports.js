// The reports' Print button (the Content-Security-Policy allows no inline script).
"use strict";
document.querySelectorAll("[data-action=print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
