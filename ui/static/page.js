() => {
  if (window.__ragmix) return;
  window.__ragmix = true;
  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (err) {  // no clipboard API (a page served over plain http on another host)
      const area = document.createElement("textarea");
      area.value = text;
      area.style.position = "fixed";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      const done = document.execCommand("copy");
      area.remove();
      return done;
    }
  }
  document.addEventListener("click", async (event) => {
    const button = event.target.closest && event.target.closest(".rm-copy");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    if (await copy(button.value)) {
      const [label, done] = button.querySelectorAll("span");
      label.hidden = true;
      done.hidden = false;
      setTimeout(() => { label.hidden = false; done.hidden = true; }, 1500);
    }
  }, true);
  document.addEventListener("toggle", (event) => {
    const box = event.target;
    if (box instanceof HTMLDetailsElement && box.open && box.matches(".rm-source")) {
      box.scrollIntoView({ block: "nearest" });
    }
  }, true);
  const labelled = new WeakMap();
  function plain(el) {
    const raw = el.getAttribute("aria-label");
    if (!raw || labelled.get(el) === raw) return;
    const cut = raw.indexOf(": ");
    const template = document.createElement("template");  // inert: nothing loads or runs
    template.innerHTML = cut < 0 ? raw : raw.slice(cut + 2);
    const button = template.content.querySelector(".rm-copy");
    const text = button ? button.value : template.content.textContent;
    const label = (cut < 0 ? "" : raw.slice(0, cut + 2)) + text.trim();
    labelled.set(el, label);
    el.setAttribute("aria-label", label);
  }
  new MutationObserver(() => {
    document.querySelectorAll("#rm-chat [data-testid][aria-label]").forEach(plain);
  }).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"],
  });
}
