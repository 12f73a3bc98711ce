// Building DOM nodes for the built-in client. Text goes in through
// textContent (the `text` prop), never as markup.

/** Create an element: h("button", {className, text, on: {click}}, ...children). */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "on") for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
    else if (key.startsWith("aria") || key === "role") {
      node.setAttribute(key.startsWith("aria") ? `aria-${key.slice(4).toLowerCase()}` : key, value);
    } else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

/** True for URLs an <img> or link may point at: http(s) only (and data: images when allowed). */
export function safeUrl(url, { dataImages = false } = {}) {
  if (typeof url !== "string") return false;
  if (dataImages && /^data:image\/(png|jpeg|gif|webp);/i.test(url)) return true;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:";
  } catch {
    return false;
  }
}

/**
 * Whether an image at `url` may be loaded under a thread's
 * `allowed_image_domains` (`domains`): any host while it is null; else the
 * page's own origin (attachments, previews), data: and blob: images (made
 * here), and hosts that are a listed domain or one of its subdomains.
 */
export function imageAllowed(url, domains) {
  if (!Array.isArray(domains)) return true;
  let parsed;
  try {
    parsed = new URL(url, location.href);
  } catch {
    return false;
  }
  if (parsed.protocol === "data:" || parsed.protocol === "blob:") return true;
  if (parsed.origin === location.origin) return true;
  const host = parsed.hostname.toLowerCase().replace(/\.$/, "");
  return domains.some((entry) => {
    const domain = String(entry || "").trim().toLowerCase().replace(/^\*?\./, "").replace(/\.$/, "");
    return domain && (host === domain || host.endsWith(`.${domain}`));
  });
}

/** What stands in for an image that is not loaded: its description, no link, no request. */
export function imagePlaceholder(alt, className = "") {
  const text = String(alt || "").trim();
  return h("span", {
    className: `ck-image-blocked ${className}`.trim(),
    role: "img",
    ariaLabel: text ? `Image not shown: ${text}` : "Image not shown",
    title: "Images from this address are not shown in this conversation",
    text: text ? `Image not shown: ${text}` : "Image not shown",
  });
}

/** "1.2 MB" for a byte count. */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
