// The composer's menus: "@" tags the user's things (entities found by the
// site's tag search), "/" at the start runs a command (pick an assistant,
// or put a prepared prompt in the box). Both are on when the server's
// CHATKIT_UI turns them on, exactly as for the official component.
//
// The message box stays a plain textarea: a tag is its "@title" text there,
// listed as a chip above the box while that text is in it. On sending, each
// "@title" of a chosen tag becomes an `input_tag` content part (id, title,
// group, data), the rest `input_text`, in order.
//
// Methods of BuiltInClient (client.js), which holds the state they share.

import { h } from "../dom.js";
import { icon } from "../icons.js";

const TAG_QUERY = /(^|\s)@([^@\n]{0,40})$/;
const COMMAND_QUERY = /^\/(\S{0,40})$/;
const SEARCH_DELAY_MS = 120;
let menuCount = 0;

function matches(command, query) {
  const wanted = query.toLowerCase();
  return !wanted || `${command.label} ${command.description || ""}`.toLowerCase().includes(wanted);
}

export const menuMethods = {
  /** Menus and tags, when the options turn them on; called by buildComposer. */
  buildMenus() {
    this.tagsEnabled = Boolean(this.config.entitiesUrl);
    this.commands = this.config.commands || [];
    this.composerTags = []; // entities chosen in this message
    if (!this.tagsEnabled && !this.commands.length) return;
    const id = `ck-menu-${++menuCount}`;
    this.menuList = h("ul", { className: "ck-menu", id, role: "listbox", hidden: true });
    this.menuList.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the box
    this.textarea.setAttribute("role", "combobox");
    this.textarea.setAttribute("aria-autocomplete", "list");
    this.textarea.setAttribute("aria-controls", id);
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.addEventListener("input", () => this.updateMenu());
    this.textarea.addEventListener("click", () => this.updateMenu());
    this.textarea.addEventListener("blur", () => this.closeMenu());
    if (this.tagsEnabled) {
      this.tagList = h("ul", { className: "ck-tags", ariaLabel: "Tagged", hidden: true });
      this.textarea.addEventListener("input", () => this.updateTagChips());
      this.mentionButton = h(
        "button",
        {
          type: "button",
          className: "ck-icon-button ck-mention",
          ariaLabel: "Tag something",
          title: "Tag something (@)",
          on: { click: () => this.startMention() },
        },
        icon("at-sign"),
      );
    }
  },

  /** Keys the open menu takes before the composer does; true when taken. */
  menuKeydown(event) {
    const menu = this.menu;
    if (!menu || this.menuList.hidden) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.highlight((menu.active + step + menu.options.length) % menu.options.length);
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && !event.isComposing) {
      this.choose(menu.options[menu.active]);
    } else if (event.key === "Escape") {
      event.stopPropagation(); // close the menu, not the dialog around the chat
      this.closeMenu();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  },

  /** Open, filter or close the menu from the text before the caret. */
  updateMenu() {
    const before = this.textarea.value.slice(0, this.textarea.selectionStart);
    const command = this.commands.length ? COMMAND_QUERY.exec(before) : null;
    if (command) {
      const options = this.commands.filter((entry) => matches(entry, command[1]));
      this.showMenu({ kind: "command", start: 0, query: command[1], options });
      return;
    }
    const tag = this.tagsEnabled ? TAG_QUERY.exec(before) : null;
    if (!tag) {
      this.closeMenu();
      return;
    }
    const start = before.length - tag[2].length - 1;
    const query = tag[2];
    // Typing on after a tag already chosen is not a new search.
    if (this.composerTags.some((chosen) => query === chosen.title || query.startsWith(`${chosen.title} `))) {
      this.closeMenu();
      return;
    }
    clearTimeout(this.tagSearchTimer);
    this.tagSearchTimer = setTimeout(() => this.searchTags(start, query), SEARCH_DELAY_MS);
  },

  async searchTags(start, query) {
    this.tagSearch?.abort();
    const search = new AbortController();
    this.tagSearch = search;
    let found;
    try {
      found = await this.api.searchEntities(query.trim(), { signal: search.signal });
    } catch (error) {
      if (error.name !== "AbortError") this.showError(`Could not search for tags. ${error.message}`);
      return;
    }
    if (search.signal.aborted) return;
    // Text after an "@" that matches nothing is just text (an e-mail address, say).
    if (!found.length && /\s/.test(query)) {
      this.closeMenu();
      return;
    }
    this.showMenu({ kind: "tag", start, query, options: found });
  },

  showMenu(menu) {
    this.menu = { ...menu, active: 0 };
    const empty = menu.kind === "tag" ? "Nothing to tag matches that." : "No command matches that.";
    const rows = menu.options.map((option, index) =>
      h(
        "li",
        {
          id: `${this.menuList.id}-${index}`,
          className: "ck-menu-option",
          role: "option",
          ariaSelected: "false",
          dataset: { kind: menu.kind },
          on: { click: () => this.choose(option) },
        },
        h("span", { className: "ck-menu-label", text: option.title || option.label }),
        option.group || option.description
          ? h("span", { className: "ck-menu-detail", text: option.description || option.group })
          : null,
      ),
    );
    this.menuList.replaceChildren(...(rows.length ? rows : [h("li", { className: "ck-menu-empty ck-muted", text: empty })]));
    this.menuList.setAttribute("aria-label", menu.kind === "tag" ? "Tags" : "Commands");
    this.menuList.hidden = false;
    this.textarea.setAttribute("aria-expanded", "true");
    if (rows.length) this.highlight(0);
    else this.textarea.removeAttribute("aria-activedescendant");
  },

  highlight(index) {
    this.menu.active = index;
    [...this.menuList.children].forEach((row, at) => row.setAttribute("aria-selected", String(at === index)));
    const row = this.menuList.children[index];
    if (row?.id) {
      this.textarea.setAttribute("aria-activedescendant", row.id);
      row.scrollIntoView({ block: "nearest" });
    }
  },

  closeMenu() {
    clearTimeout(this.tagSearchTimer);
    this.tagSearch?.abort();
    this.menu = null;
    if (!this.menuList) return;
    this.menuList.hidden = true;
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  },

  /** Put `text` in place of the menu's query (from its start to the caret). */
  replaceQuery(text) {
    const box = this.textarea;
    const end = box.selectionStart;
    const start = this.menu.start;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.selectionStart = box.selectionEnd = start + text.length;
    this.autosize();
  },

  choose(option) {
    if (!option || !this.menu) return;
    if (this.menu.kind === "tag") {
      this.replaceQuery(`@${option.title} `);
      if (!this.composerTags.some((tag) => tag.id === option.id)) this.composerTags.push(option);
      this.updateTagChips();
    } else if (option.assistant) {
      this.replaceQuery("");
      this.selectAssistant(option.assistant);
    } else if (option.prompt) {
      this.replaceQuery(option.prompt);
    }
    this.closeMenu();
    this.textarea.focus({ preventScroll: true });
  },

  /** The "@" button: start a tag at the caret. */
  startMention() {
    const box = this.textarea;
    const at = box.selectionStart;
    const before = box.value.slice(0, at);
    const insert = before && !/\s$/.test(before) ? " @" : "@";
    box.value = before + insert + box.value.slice(box.selectionEnd);
    box.selectionStart = box.selectionEnd = at + insert.length;
    box.focus({ preventScroll: true });
    this.updateMenu();
  },

  /** The chips of the tags whose "@title" is still in the box. */
  updateTagChips() {
    if (!this.tagList) return;
    this.composerTags = this.composerTags.filter((tag) => this.textarea.value.includes(`@${tag.title}`));
    this.tagList.replaceChildren(
      ...this.composerTags.map((tag) =>
        h(
          "li",
          { className: "ck-tag ck-tag--composer", dataset: { entityId: tag.id } },
          h("span", { text: tag.title }),
          h(
            "button",
            {
              type: "button",
              className: "ck-icon-button ck-tag-remove",
              ariaLabel: `Remove the tag ${tag.title}`,
              on: {
                click: () => {
                  this.textarea.value = this.textarea.value.replace(`@${tag.title}`, tag.title);
                  this.updateTagChips();
                  this.textarea.focus({ preventScroll: true });
                },
              },
            },
            icon("x"),
          ),
        ),
      ),
    );
    this.tagList.hidden = !this.composerTags.length;
  },

  /** The message's content parts: "@title" of each chosen tag as an input_tag. */
  contentParts(text) {
    const tags = [...this.composerTags].sort((a, b) => b.title.length - a.title.length);
    const parts = [];
    let rest = text;
    while (rest) {
      let found = null;
      for (const tag of tags) {
        const at = rest.indexOf(`@${tag.title}`);
        if (at >= 0 && (!found || at < found.at)) found = { at, tag };
      }
      if (!found) {
        parts.push({ type: "input_text", text: rest });
        break;
      }
      if (found.at) parts.push({ type: "input_text", text: rest.slice(0, found.at) });
      const { id, title, group, data, interactive } = found.tag;
      parts.push({ type: "input_tag", id, text: title, group: group || null, data: data || {}, interactive: Boolean(interactive) });
      rest = rest.slice(found.at + title.length + 1);
    }
    return parts;
  },

  clearTags() {
    this.composerTags = [];
    this.updateTagChips();
  },
};
