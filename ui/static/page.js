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
  // The page's language: its switch, else the browser's.
  function lang() {
    const picked = document.querySelector("#rm-lang input:checked");
    if (picked) return picked.value === "zh" ? "zh" : "en";
    return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
  }
  const SAYS = {  // who says a message, for screen readers
    user: { en: "Your question: ", zh: "你的问题：" },
    bot: { en: "Answer: ", zh: "回答：" },
  };
  const labelled = new WeakMap();  // element -> {label it was given, its text}
  function plain(el) {
    const raw = el.getAttribute("aria-label");
    const who = SAYS[el.getAttribute("data-testid")];
    const done = labelled.get(el);
    let text;
    if (done && done.label === raw) {  // ours: redo only for another language
      text = done.text;
    } else if (raw) {
      const cut = raw.indexOf(": ");
      const template = document.createElement("template");  // inert: nothing loads or runs
      template.innerHTML = cut < 0 ? raw : raw.slice(cut + 2);
      const button = template.content.querySelector(".rm-copy");
      text = (button ? button.value : template.content.textContent).trim();
    } else {
      return;
    }
    const label = (who ? who[lang()] : "") + text;
    labelled.set(el, { label, text });
    if (label !== raw) el.setAttribute("aria-label", label);
  }
  // Gradio's own words follow the browser's language, not the page's switch: the few the
  // page shows are said again in the page's language (the originals are kept to go back).
  const GRADIO = {
    "Click to upload or drop files": "点击上传或拖放文件",
    "Drop File Here": "将文件拖放到此处",
    "- or -": "- 或 -",
    "Click to Upload": "点击上传",
    "chatbot conversation": "对话",
    "Clear": "清除",
    "Error": "错误",
    "Warning": "警告",
    "Info": "提示",
    "Close": "关闭",
  };
  // Gradio's own toast for an upload over ui.upload_max_mb (checked in the browser, before
  // anything is sent), in the page's language: "File(s) exceed the maximum allowed size of
  // 10.2 Kb: "a.pdf", "b.pdf"".
  const TOO_BIG = /^File\(s\) exceed the maximum allowed size of ([\d.]+) ?([KMGT]?i?b): (.*)$/s;
  function toast(node) {
    if (!original.has(node)) original.set(node, node.textContent);
    const en = original.get(node);
    const m = TOO_BIG.exec(en.trim());
    if (!m) return;
    const size = `${m[1]} ${m[2].replace(/i?b$/i, "B").toUpperCase()}`;
    const want = lang() === "zh"
      ? `文件超过了 ${size} 的上传上限：${m[3].replace(/"([^"]*)"/g, "“$1”")}。请拆分成较小的文件后再上传。`
      : en;
    if (node.textContent !== want) node.textContent = want;
  }
  const original = new WeakMap();
  function say(node, get, set) {
    if (!original.has(node)) original.set(node, get());
    const en = original.get(node).trim();
    if (!(en in GRADIO)) return;
    const want = lang() === "zh" ? GRADIO[en] : en;
    if (get().trim() !== want) set(want);
  }
  function relabel() {
    document.querySelectorAll('[data-testid="toast-text"]').forEach(toast);
    document.querySelectorAll('[data-testid="toast-body"] .toast-title').forEach((el) => {
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) {
        const node = walker.currentNode;
        if (node.textContent.trim()) {
          say(node, () => node.textContent, (v) => { node.textContent = v; });
        }
      }
    });
    document.querySelectorAll('[data-testid="toast-close"]').forEach((el) => {
      say(el, () => el.getAttribute("aria-label"), (v) => el.setAttribute("aria-label", v));
    });
    document.querySelectorAll("#rm-chat [data-testid][aria-label]").forEach(plain);
    document.querySelectorAll("#rm-upload [aria-label], #rm-chat [aria-label]").forEach((el) => {
      if (el.hasAttribute("data-testid") && SAYS[el.getAttribute("data-testid")]) return;
      say(el, () => el.getAttribute("aria-label"), (v) => el.setAttribute("aria-label", v));
    });
    document.querySelectorAll('#rm-upload [data-testid="upload-text"]').forEach((box) => {
      const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) {
        const node = walker.currentNode;
        if (node.textContent.trim()) {
          say(node, () => node.textContent, (v) => { node.textContent = v; });
        }
      }
    });
  }
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; relabel(); });
  }).observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true,
    attributeFilter: ["aria-label", "checked"],
  });
  setInterval(relabel, 1000);  // Gradio may redraw a component without a mutation we see
  document.addEventListener("change", (event) => {
    if (event.target.closest && event.target.closest("#rm-lang")) setTimeout(relabel, 0);
  }, true);
}
