"""The built-in client's Markdown renderer (static/chatkit/markdown.js), run
in a real Chromium: what each input becomes, and that nothing in model
output can turn into markup, script or a dangerous link."""

from __future__ import annotations

import pytest

from .browser import browser as browser
from .browser import open_page as open_page
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

LINK = 'rel="noopener noreferrer nofollow" target="_blank"'
BLOCKED = 'title="Images from this address are not shown in this conversation"'

CASES = [
    (
        "**bold**, *em*, ~~gone~~ and `co<de>`",
        "<p><strong>bold</strong>, <em>em</em>, <del>gone</del> and <code>co&lt;de&gt;</code></p>",
    ),
    ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ('<img src=x onerror="alert(1)">', '<p>&lt;img src=x onerror="alert(1)"&gt;</p>'),
    ('a "quote" & <b>tag</b>', '<p>a "quote" &amp; &lt;b&gt;tag&lt;/b&gt;</p>'),
    ("[click](javascript:alert(1))", "<p>click</p>"),
    ("[click](data:text/html;base64,PHNjcmlwdD4=)", "<p>click</p>"),
    ("[click](vbscript:msgbox)", "<p>click</p>"),
    ("[click](/relative/path)", "<p>click</p>"),
    (
        "[<img src=x onerror=alert(1)>](https://example.org)",
        f'<p><a href="https://example.org/" {LINK}>&lt;img src=x onerror=alert(1)&gt;</a></p>',
    ),
    (
        "[wiki](https://en.wikipedia.org/wiki/Django_(web_framework))",
        f'<p><a href="https://en.wikipedia.org/wiki/Django_(web_framework)" {LINK}>wiki</a></p>',
    ),
    (
        "see https://example.org/page.",
        f'<p>see <a href="https://example.org/page" {LINK}>https://example.org/page</a>.</p>',
    ),
    ("snake_case_name and a__b__c", "<p>snake_case_name and a__b__c</p>"),
    ("# Title\n### Smaller", "<h3>Title</h3><h5>Smaller</h5>"),
    ("- one\n- **two**", "<ul><li>one</li><li><strong>two</strong></li></ul>"),
    ("3. three\n4. four", '<ol start="3"><li>three</li><li>four</li></ol>'),
    ("> quoted *text*", "<blockquote><p>quoted <em>text</em></p></blockquote>"),
    (
        "```html\n<b onclick=x>bold?</b>\n```",
        '<pre><code data-language="html">&lt;b onclick=x&gt;bold?&lt;/b&gt;</code></pre>',
    ),
    # A reply still streaming: the fence is not closed yet.
    ("```\nlet x = 1;", "<pre><code>let x = 1;</code></pre>"),
    ("line one\nline two\n\nnext", "<p>line one<br>line two</p><p>next</p>"),
    ("a\n\n---\n\nb", "<p>a</p><hr><p>b</p>"),
    ("\\*not em\\*", "<p>*not em*</p>"),
    ("", ""),
    (
        "![a <b>cat</b>](https://example.org/cat.png)",
        '<p><img class="ck-md-image" src="https://example.org/cat.png"'
        ' alt="a &lt;b&gt;cat&lt;/b&gt;" loading="lazy" referrerpolicy="no-referrer"></p>',
    ),
    (
        "![x](javascript:alert(1))",
        '<p><span class="ck-image-blocked ck-md-image" role="img" aria-label="Image not shown: x"'
        f" {BLOCKED}>Image not shown: x</span></p>",
    ),
]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with start_daphne() as live:
        yield live


def test_markdown_renders_to_safe_dom(server, open_page):
    page = open_page(server, path="/accounts/login/")
    rendered = page.evaluate(
        """async (texts) => {
            const { renderMarkdown } = await import("/static/chatkit/markdown.js");
            return texts.map((text) => {
              const box = document.createElement("div");
              box.append(renderMarkdown(text));
              return box.innerHTML;
            });
        }""",
        [text for text, _ in CASES],
    )
    for (text, expected), html in zip(CASES, rendered, strict=True):
        assert html == expected, f"{text!r} rendered as {html!r}"


def test_markdown_images_load_only_where_the_caller_allows(server, open_page):
    page = open_page(server, path="/accounts/login/")
    rendered = page.evaluate(
        """async (text) => {
            const { renderMarkdown } = await import("/static/chatkit/markdown.js");
            const box = document.createElement("div");
            const imageAllowed = (url) => url.includes("images.example.org");
            box.append(renderMarkdown(text, { imageAllowed }));
            return [...box.querySelectorAll("img, .ck-image-blocked")].map(
              (node) => node.getAttribute("src") || node.textContent,
            );
        }""",
        "![ok](https://images.example.org/a.png) ![no](https://tracker.example.net/p.gif)",
    )
    assert rendered == ["https://images.example.org/a.png", "Image not shown: no"]
