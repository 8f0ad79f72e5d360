// Safe Markdown for bot replies: builds DOM nodes with textContent, never parses HTML.
// Supported: paragraphs, **bold**, *italics* / _italics_, `code`, ``` code blocks ```, - and 1. lists,
// [text](https://…) and bare http(s) links (rel="noopener noreferrer", new tab). Anything else stays text.
"use strict";
(() => {
  const INLINE = new RegExp(
    [
      "(`+)([^`]+?)\\1",                                   // 1,2: code
      "\\*\\*(?!\\s)([^*]+?)(?<!\\s)\\*\\*",               // 3: bold
      "\\*(?!\\s)([^*]+?)(?<!\\s)\\*",                     // 4: italics
      "(?<![\\w])_(?!\\s)([^_]+?)(?<!\\s)_(?![\\w])",      // 5: italics
      "\\[([^\\]\\n]+)\\]\\(((?:https?:\\/\\/|mailto:)[^\\s)]+)\\)", // 6,7: link
      "(https?:\\/\\/[^\\s<>\"]*[^\\s<>\".,;:!?)\\]'])",    // 8: bare link
    ].join("|"),
    "g",
  );

  function safeHref(url) {
    try {
      const u = new URL(url);
      return ["http:", "https:", "mailto:"].includes(u.protocol) ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(href, text) {
    const ok = safeHref(href);
    if (!ok) return document.createTextNode(text);
    const a = document.createElement("a");
    a.href = ok;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.textContent = text;
    return a;
  }

  function inline(text, parent) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      let node;
      if (m[2] !== undefined) {
        node = document.createElement("code");
        node.textContent = m[2];
      } else if (m[3] !== undefined) {
        node = document.createElement("strong");
        inline(m[3], node);
      } else if (m[4] !== undefined || m[5] !== undefined) {
        node = document.createElement("em");
        inline(m[4] !== undefined ? m[4] : m[5], node);
      } else if (m[6] !== undefined) {
        node = link(m[7], m[6]);
      } else {
        node = link(m[8], m[8]);
      }
      parent.appendChild(node);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  const BULLET = /^\s*[-*•]\s+(.*)$/, NUMBER = /^\s*\d{1,3}[.)]\s+(.*)$/, FENCE = /^\s*```/;

  // Renders `text` into `container` (emptied first).
  function render(text, container) {
    container.textContent = "";
    const lines = String(text).split("\n");
    let para = null;
    const endPara = () => { para = null; };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (FENCE.test(line)) {
        const code = [];
        let j = i + 1;
        while (j < lines.length && !FENCE.test(lines[j])) code.push(lines[j++]);
        if (j < lines.length) {           // a closed fence: a code block
          const pre = document.createElement("pre");
          const c = document.createElement("code");
          c.textContent = code.join("\n");
          pre.appendChild(c);
          container.appendChild(pre);
          i = j;
          endPara();
          continue;
        }
      }
      const bullet = BULLET.exec(line), number = bullet ? null : NUMBER.exec(line);
      if (bullet || number) {
        const tag = bullet ? "UL" : "OL";
        let list = container.lastElementChild;
        if (para !== null || !list || list.tagName !== tag) list = container.appendChild(document.createElement(tag));
        const li = document.createElement("li");
        inline((bullet || number)[1], li);
        list.appendChild(li);
        endPara();
        continue;
      }
      if (line.trim() === "") { endPara(); continue; }
      if (para === null) {
        para = document.createElement("p");
        container.appendChild(para);
      } else {
        para.appendChild(document.createTextNode("\n"));
      }
      inline(line, para);
    }
  }

  window.webchatMarkdown = { render };
})();
