// Copy buttons: <button data-copy="text">. One listener for the whole page, so buttons that
// htmx swaps in later work too. The result is announced to screen readers.
(() => {
  "use strict";

  const announce = (text) => {
    const region = document.getElementById("copy-status");
    if (region) {
      region.textContent = "";
      window.setTimeout(() => { region.textContent = text; }, 50);
    }
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    const original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
      announce("Link copied to the clipboard");
    } catch (error) {
      button.textContent = "Copy failed";
      announce("Could not copy; select the link and copy it by hand");
    }
    window.setTimeout(() => { button.textContent = original; }, 2000);
  });
})();
