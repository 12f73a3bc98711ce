// Mounts every {% chatkit_panel %} on the page.
//
// Each panel first asks for the official <openai-chatkit> component (its
// script comes from OpenAI's CDN). When the script fails, or has not defined
// the element within the configured timeout, the panel mounts the built-in
// client instead, which speaks the same protocol to the same endpoint.
// Modal panels mount when first opened; sidebars can be folded away.
//
// The official component's options that are functions are added here, and
// do what the built-in client does, so a page handles both the same way:
// `onClientTool` asks the page through the `chatkit.client_tool` event
// (client-tools.js), `entities.onTagSearch` asks the site's tag search,
// `entities.onClick` becomes a `chatkit.entity.click` event, and the
// `commands` menu offers the commands the server lists.

import { ChatKitApi, makeChatKitFetch } from "./api.js";
import { requestClientTool } from "./client-tools.js";

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

/** The `commands` of `@openai/chatkit`: search and select among the server's list. */
function commandOptions(config, element) {
  const listed = config.commands || [];
  const asCommand = ({ id, label, description, icon, group }) => ({ id, label, description, icon, group });
  return {
    enabled: true,
    onSearch: async (query) => {
      const wanted = String(query || "").toLowerCase();
      return listed
        .filter((command) => `${command.label} ${command.description || ""}`.toLowerCase().includes(wanted))
        .map(asCommand);
    },
    onSelect: async (command) => {
      const chosen = listed.find((entry) => entry.id === command.id);
      if (chosen?.assistant) {
        // The panel's own assistant is "no tool" in the component's picker.
        const panel = config.assistant || config.assistants?.[0]?.id;
        await element.setComposerValue({ selectedToolId: chosen.assistant === panel ? null : chosen.assistant });
      } else if (chosen?.prompt) {
        await element.setComposerValue({ text: chosen.prompt });
      }
    },
  };
}

/** The component's options, with the functions JSON cannot carry. */
export function officialOptions(mount, config, element) {
  const options = structuredClone(config.options);
  // A panel made for one assistant sends it as the tool choice of every
  // message whose user picked no other tool.
  options.api = { ...options.api, fetch: makeChatKitFetch(config, { assistant: config.assistant }) };
  if (options.theme?.colorScheme === "system") {
    options.theme.colorScheme = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  options.onClientTool = ({ name, params }) => requestClientTool(mount, { name, params });
  if (config.entitiesUrl) {
    const api = new ChatKitApi(config);
    options.entities = {
      ...options.entities,
      onTagSearch: (query) => api.searchEntities(String(query || "")),
      onClick: (entity) =>
        mount.dispatchEvent(new CustomEvent("chatkit.entity.click", { bubbles: true, detail: { entity } })),
    };
  }
  if (config.commands?.length) options.commands = commandOptions(config, element);
  return options;
}

/**
 * A thread that opens shows, in the composer's tool menu, the assistant its
 * last message went to (as the built-in client's picker does).
 */
async function restoreToolChoice(element, config, threadId) {
  const tools = config.options.composer?.tools || [];
  if (!threadId || !tools.length) return;
  try {
    const page = await new ChatKitApi(config).request("items.list", { thread_id: threadId, order: "desc", limit: 20 });
    const last = page.data.find((item) => item.type === "user_message");
    const chosen = last?.inference_options?.tool_choice?.id;
    await element.setComposerValue({ selectedToolId: tools.some((tool) => tool.id === chosen) ? chosen : null });
  } catch {
    // The menu keeps whatever it shows.
  }
}

function mountOfficial(mount, config) {
  const element = document.createElement(ELEMENT);
  element.classList.add("ck-official");
  element.addEventListener("chatkit.thread.change", (event) => followUrl(config, event.detail?.threadId));
  element.addEventListener("chatkit.thread.load.end", (event) => restoreToolChoice(element, config, event.detail?.threadId));
  mount.replaceChildren(element);
  element.setOptions(officialOptions(mount, config, element));
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
