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

// <button data-copy="#id">: copy that element's text (the clipboard API where the page is a
// secure context, a selection and execCommand elsewhere), and say so on the button.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  const done = () => {
    button.textContent = "Copied";
    window.setTimeout(() => { button.textContent = "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => {});
  } else {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (document.execCommand("copy")) done();
  }
});
