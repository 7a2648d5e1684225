// Expand or collapse every <details> element, and expand them all before printing.
(function () {
  function setAll(open) {
    document.querySelectorAll("details").forEach(function (element) {
      element.open = open;
    });
  }
  document.querySelectorAll("[data-details]").forEach(function (button) {
    button.addEventListener("click", function () {
      setAll(button.getAttribute("data-details") === "open");
    });
  });
  window.addEventListener("beforeprint", function () {
    setAll(true);
  });
})();
