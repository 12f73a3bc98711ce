// Widgets in the built-in client: the SDK's widget tree (Card, ListView,
// Box/Row/Col, Text, Title, Caption, Markdown, Badge, Button, Checkbox, form
// controls, Divider, Spacer, Image) as plain DOM, enough to read and use.
//
// Every string goes in through textContent (Markdown through the safe
// renderer); styles come from a fixed set of tokens, never from the widget's
// own CSS strings. Component types this client does not know show their
// text rather than nothing. Controls with an action call
// `onAction(action, control)`; controls inside a Form add its values to the
// action's payload. Images load only where `imageAllowed(url)` says so (the
// thread's allowed_image_domains); elsewhere their alt text stands in.

import { h, imagePlaceholder, safeUrl } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

const CONTAINERS = new Set(["Card", "ListView", "ListViewItem", "Box", "Row", "Col", "Form", "Basic", "Transition"]);
const ALIGN = { start: "flex-start", center: "center", end: "flex-end", stretch: "stretch", baseline: "baseline" };
const JUSTIFY = { ...ALIGN, between: "space-between", around: "space-around", evenly: "space-evenly" };
const TOKEN = /^[a-z0-9-]{1,24}$/;

/** The strings inside a widget tree, for a plain rendering of it. */
export function widgetText(node, out = []) {
  if (!node || typeof node !== "object") return out;
  for (const key of ["title", "value", "text", "label"]) {
    if (typeof node[key] === "string" && node[key].trim()) out.push(node[key].trim());
  }
  const status = node.status;
  if (status && typeof status.text === "string" && status.text.trim() && !out.length) out.push(status.text.trim());
  for (const child of childrenOf(node)) widgetText(child, out);
  return out;
}

function childrenOf(node) {
  const children = node?.children;
  if (Array.isArray(children)) return children;
  return children && typeof children === "object" ? [children] : [];
}

/** A spacing value (a number of 4 px units, or a CSS length string) as CSS. */
function spacing(value) {
  if (typeof value === "number" && Number.isFinite(value)) return `${value * 0.25}rem`;
  if (typeof value === "string" && /^[0-9.]+(px|rem|em|%)$/.test(value)) return value;
  return "";
}

/** Design tokens become data attributes the stylesheet knows; anything else is ignored. */
function tokens(node, component, names) {
  for (const name of names) {
    const value = component[name];
    if (typeof value === "string" && TOKEN.test(value)) node.dataset[name] = value;
    else if (value === true) node.dataset[name] = "true";
  }
}

function layout(node, component) {
  const gap = spacing(component.gap);
  if (gap) node.style.gap = gap;
  const padding = spacing(component.padding);
  if (padding) node.style.padding = padding;
  if (ALIGN[component.align]) node.style.alignItems = ALIGN[component.align];
  if (JUSTIFY[component.justify]) node.style.justifyContent = JUSTIFY[component.justify];
  if (typeof component.flex === "number") node.style.flex = String(component.flex);
  if (component.wrap && component.wrap !== "nowrap") node.style.flexWrap = "wrap";
}

/** The values of the named controls of a widget form, for an action's payload. */
function formValues(form) {
  const values = {};
  for (const control of form.querySelectorAll("[name]")) {
    if (control.type === "checkbox") values[control.name] = control.checked;
    else if (control.type === "radio") {
      if (control.checked) values[control.name] = control.value;
    } else values[control.name] = control.value;
  }
  return values;
}

/**
 * Render `widget` (a widget item's root component).
 * `onAction(action, control)` runs a control's action; `imageAllowed(url)`
 * decides which images load (all, when absent).
 */
export function renderWidget(widget, { onAction = () => {}, imageAllowed = () => true } = {}) {
  const dispatch = (action, control) => {
    if (!action || typeof action.type !== "string") return;
    const form = control.closest("form.ck-w-form");
    const payload = form ? { ...(action.payload || {}), ...formValues(form) } : action.payload;
    onAction({ ...action, payload }, control);
  };

  function status(component) {
    const value = component.status;
    if (!value || typeof value.text !== "string") return null;
    return h("p", { className: "ck-w-status", text: value.text });
  }

  function children(node, component) {
    for (const child of childrenOf(component)) {
      const rendered = render(child);
      if (rendered) node.append(rendered);
    }
    labelUnlabelledControls(node);
    return node;
  }

  function render(component) {
    if (!component || typeof component !== "object") return null;
    const type = component.type;
    let node;
    switch (type) {
      case "Card": {
        const body = component.asForm ? h("form", { className: "ck-w-card-body ck-w-form" }) : h("div", { className: "ck-w-card-body" });
        if (component.asForm) body.addEventListener("submit", (event) => event.preventDefault());
        children(body, component);
        layout(body, { padding: component.padding });
        node = h("div", { className: "ck-w ck-w-card" }, status(component), body);
        tokens(node, component, ["size", "background"]);
        const footer = [component.cancel, component.confirm].filter((entry) => entry && entry.label);
        if (footer.length) {
          body.append(
            h(
              "div",
              { className: "ck-w-card-actions" },
              ...footer.map((entry) => {
                const primary = entry === component.confirm;
                const button = h("button", {
                  type: "button",
                  className: "ck-w-button",
                  text: entry.label,
                  dataset: { variant: primary ? "solid" : "outline", color: primary ? "primary" : "secondary" },
                });
                button.addEventListener("click", () => dispatch(entry.action, button));
                return button;
              }),
            ),
          );
        }
        return node;
      }
      case "ListView":
        node = h("div", { className: "ck-w ck-w-card ck-w-listview" }, status(component), children(h("ul", { className: "ck-w-list" }), component));
        return node;
      case "ListViewItem": {
        node = children(h("li", { className: "ck-w-list-item" }), component);
        layout(node, component);
        if (component.onClickAction) {
          node.tabIndex = 0;
          node.setAttribute("role", "button");
          node.classList.add("is-clickable");
          node.addEventListener("click", () => dispatch(component.onClickAction, node));
          node.addEventListener("keydown", (event) => {
            if (event.key === "Enter" || event.key === " ") {
              event.preventDefault();
              dispatch(component.onClickAction, node);
            }
          });
        }
        return node;
      }
      case "Box":
      case "Row":
      case "Col":
      case "Basic":
      case "Transition":
        node = children(h("div", { className: `ck-w-box ck-w-${type.toLowerCase()}` }), component);
        layout(node, component);
        return node;
      case "Form":
        node = children(h("form", { className: "ck-w-box ck-w-col ck-w-form", noValidate: false }), component);
        layout(node, component);
        node.addEventListener("submit", (event) => {
          event.preventDefault();
          if (component.onSubmitAction) dispatch(component.onSubmitAction, event.submitter || node);
        });
        return node;
      case "Text":
      case "Caption":
      case "Label": {
        const tag = type === "Label" ? "label" : "p";
        node = h(tag, { className: `ck-w-${type.toLowerCase()}`, text: String(component.value ?? "") });
        tokens(node, component, ["color", "weight", "size", "textAlign", "italic", "lineThrough", "truncate"]);
        return node;
      }
      case "Title":
        node = h("p", { className: "ck-w-title", role: "heading", ariaLevel: "3", text: String(component.value ?? "") });
        tokens(node, component, ["color", "weight", "size", "textAlign"]);
        return node;
      case "Markdown":
        return h("div", { className: "ck-w-markdown ck-markdown" }, renderMarkdown(String(component.value ?? ""), { imageAllowed }));
      case "Badge":
        node = h("span", { className: "ck-w-badge", text: String(component.label ?? "") });
        tokens(node, component, ["color", "variant", "size", "pill"]);
        return node;
      case "Button": {
        node = h("button", {
          type: component.submit ? "submit" : "button",
          className: "ck-w-button",
          text: String(component.label ?? ""),
          disabled: Boolean(component.disabled),
        });
        tokens(node, component, ["color", "variant", "size", "style", "pill", "block"]);
        if (component.onClickAction) node.addEventListener("click", () => dispatch(component.onClickAction, node));
        return node;
      }
      case "Checkbox": {
        const input = h("input", {
          type: "checkbox",
          name: component.name || "",
          checked: Boolean(component.defaultChecked),
          disabled: Boolean(component.disabled),
          required: Boolean(component.required),
        });
        if (component.onChangeAction) input.addEventListener("change", () => dispatch(component.onChangeAction, input));
        return h("label", { className: "ck-w-checkbox" }, input, component.label ? h("span", { text: component.label }) : null);
      }
      case "Input":
      case "DatePicker": {
        const inputType = type === "DatePicker" ? "date" : ["number", "email", "text", "password", "tel", "url"].includes(component.inputType) ? component.inputType : "text";
        const value = typeof component.defaultValue === "string" ? (type === "DatePicker" ? component.defaultValue.slice(0, 10) : component.defaultValue) : "";
        node = h("input", {
          type: inputType,
          className: "ck-w-input",
          name: component.name || "",
          value,
          placeholder: component.placeholder || "",
          disabled: Boolean(component.disabled),
          required: Boolean(component.required),
          ariaLabel: component.placeholder || component.name || null,
        });
        if (component.onChangeAction) node.addEventListener("change", () => dispatch(component.onChangeAction, node));
        return node;
      }
      case "Textarea":
        return h("textarea", {
          className: "ck-w-input",
          name: component.name || "",
          value: component.defaultValue || "",
          placeholder: component.placeholder || "",
          rows: component.rows || 3,
          disabled: Boolean(component.disabled),
          required: Boolean(component.required),
          ariaLabel: component.placeholder || component.name || null,
        });
      case "Select": {
        node = h(
          "select",
          { className: "ck-w-input", name: component.name || "", disabled: Boolean(component.disabled), ariaLabel: component.placeholder || component.name || null },
          component.placeholder ? h("option", { value: "", text: component.placeholder, disabled: true, selected: !component.defaultValue }) : null,
          ...(component.options || []).map((option) =>
            h("option", { value: option.value, text: option.label, disabled: Boolean(option.disabled), selected: option.value === component.defaultValue }),
          ),
        );
        if (component.onChangeAction) node.addEventListener("change", () => dispatch(component.onChangeAction, node));
        return node;
      }
      case "RadioGroup": {
        node = h("div", { className: "ck-w-radios", role: "radiogroup", ariaLabel: component.ariaLabel || component.name || null });
        for (const option of component.options || []) {
          const input = h("input", {
            type: "radio",
            name: component.name || "",
            value: option.value,
            checked: option.value === component.defaultValue,
            disabled: Boolean(component.disabled || option.disabled),
          });
          if (component.onChangeAction) input.addEventListener("change", () => dispatch(component.onChangeAction, input));
          node.append(h("label", { className: "ck-w-checkbox" }, input, h("span", { text: option.label })));
        }
        return node;
      }
      case "Divider":
        return h("hr", { className: "ck-w-divider" });
      case "Spacer":
        return h("div", { className: "ck-w-spacer", ariaHidden: "true" });
      case "Image":
        if (!safeUrl(component.src, { dataImages: true })) return null;
        if (!imageAllowed(component.src)) return imagePlaceholder(component.alt, "ck-w-image");
        return h("img", { className: "ck-w-image", src: component.src, alt: component.alt || "", loading: "lazy", referrerPolicy: "no-referrer" });
      case "Icon":
        return null; // decoration only
      default: {
        // A component this client does not draw (a chart, a newer type): its words.
        const lines = widgetText(component);
        if (!lines.length) return null;
        return h("div", { className: "ck-w-fallback", dataset: { type: String(type || "") } }, ...lines.map((line) => h("p", { text: line })));
      }
    }
  }

  const root = render(widget);
  if (root && !CONTAINERS.has(widget?.type)) return h("div", { className: "ck-w ck-w-card" }, root);
  return root || h("div", { className: "ck-w ck-w-card" }, h("p", { className: "ck-muted", text: "(empty widget)" }));
}

/** A check-box or field without a visible label is named after the first text beside it. */
function labelUnlabelledControls(container) {
  const text = [...container.children].find((child) => child.matches?.(".ck-w-text, .ck-w-title, .ck-w-box"));
  const name = text?.matches(".ck-w-box") ? text.querySelector(".ck-w-text, .ck-w-title")?.textContent : text?.textContent;
  if (!name) return;
  for (const label of container.querySelectorAll(":scope > .ck-w-checkbox")) {
    const input = label.querySelector("input");
    if (input && !label.querySelector("span") && !input.hasAttribute("aria-label")) input.setAttribute("aria-label", name);
  }
}
