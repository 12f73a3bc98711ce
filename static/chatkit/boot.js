// Mounts every {% chatkit_panel %} on the page.
//
// Each panel first asks for the official <openai-chatkit> component (its
// script comes from OpenAI's CDN). When the script fails, or has not defined
// the element within the configured timeout, the panel mounts the built-in
// client instead, which speaks the same protocol to the same endpoint.
// Modal panels mount when first opened; sidebars can be folded away.

import { makeChatKitFetch } from "./api.js";

const ELEMENT = "openai-chatkit";
const scriptLoads = new Map();

/** Resolves true once the official element is defined, false on failure or timeout. */
export function loadOfficialComponent(url, timeoutMs) {
  if (customElements.get(ELEMENT)) return Promise.resolve(true);
  if (!url) return Promise.resolve(false);
  if (!scriptLoads.has(url)) {
    scriptLoads.set(
      url,
      new Promise((resolve) => {
        const script = document.createElement("script");
        script.src = url;
        script.async = true;
        script.addEventListener("error", () => resolve(false));
        customElements.whenDefined(ELEMENT).then(() => resolve(true));
        setTimeout(() => resolve(Boolean(customElements.get(ELEMENT))), timeoutMs);
        document.head.append(script);
      }),
    );
  }
  return scriptLoads.get(url);
}

function followUrl(config, threadId) {
  if (!config.threadUrl) return;
  const url = threadId ? config.threadUrl.replace("__thread_id__", encodeURIComponent(threadId)) : config.homeUrl;
  if (location.pathname !== url) history.pushState({ chatkitThread: threadId || null }, "", url);
}

function mountOfficial(mount, config) {
  const options = structuredClone(config.options);
  // A panel made for one assistant sends it as the tool choice of every
  // message whose user picked no other tool.
  options.api = { ...options.api, fetch: makeChatKitFetch(config, { assistant: config.assistant }) };
  if (options.theme?.colorScheme === "system") {
    options.theme.colorScheme = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  const element = document.createElement(ELEMENT);
  element.classList.add("ck-official");
  element.addEventListener("chatkit.thread.change", (event) => followUrl(config, event.detail?.threadId));
  mount.replaceChildren(element);
  element.setOptions(options);
  return element;
}

async function mountPanel(mount, config) {
  if (mount.dataset.chatkitMode) return;
  mount.dataset.chatkitMode = "loading";
  const official = await loadOfficialComponent(config.scriptUrl, config.fallbackTimeoutMs ?? 4000);
  if (official) {
    mountOfficial(mount, config);
    mount.dataset.chatkitMode = "official";
    return;
  }
  const { mountBuiltInClient } = await import("./client.js");
  mountBuiltInClient(mount, config);
  mount.dataset.chatkitMode = "builtin";
}

function setUpPanel(panel) {
  if (panel.dataset.chatkitReady) return;
  panel.dataset.chatkitReady = "true";
  const config = JSON.parse(document.getElementById(panel.dataset.chatkitConfig).textContent);
  const mount = panel.querySelector("[data-chatkit-mount]");
  const openButton = panel.querySelector("[data-chatkit-open]");
  const closeButton = panel.querySelector("[data-chatkit-close]");

  if (config.layout === "modal") {
    const dialog = panel.querySelector("dialog");
    // Start fetching the official script now, so the dialog opens quickly.
    loadOfficialComponent(config.scriptUrl, config.fallbackTimeoutMs ?? 4000);
    openButton.addEventListener("click", () => {
      dialog.showModal();
      mountPanel(mount, config);
    });
    closeButton.addEventListener("click", () => dialog.close());
    // A click on the backdrop (outside the dialog's box) closes it.
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();
    });
    return;
  }
  if (config.layout === "sidebar") {
    const key = "chatkit.sidebarOpen";
    const setOpen = (open) => {
      panel.dataset.open = String(open);
      openButton.hidden = open;
      openButton.setAttribute("aria-expanded", String(open));
      localStorage.setItem(key, String(open));
      if (open) mountPanel(mount, config);
    };
    openButton.addEventListener("click", () => setOpen(true));
    closeButton.addEventListener("click", () => setOpen(false));
    setOpen(localStorage.getItem(key) !== "false");
    return;
  }
  mountPanel(mount, config);
}

function setUpAll() {
  for (const panel of document.querySelectorAll("[data-chatkit-panel]")) setUpPanel(panel);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpAll);
else setUpAll();
