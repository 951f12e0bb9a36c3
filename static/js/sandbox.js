// The dashboard's own script: a static file, as the Content-Security-Policy allows no
// inline script or event handler attribute.

// <form data-confirm="Question?">: ask before submitting (what onsubmit="return confirm()"
// did inline).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm !== undefined) {
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }
}, true);

// <section hx-trigger="every 5s" data-poll-visible>: no poll while the tab is hidden (an
// htmx trigger filter would say so inline, but needs eval).
document.addEventListener("htmx:beforeRequest", (event) => {
  const element = event.detail && event.detail.elt;
  if (element && element.hasAttribute("data-poll-visible") && document.visibilityState !== "visible") {
    event.preventDefault();
  }
});
