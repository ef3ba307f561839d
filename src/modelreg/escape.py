"""Escaping for every place a value from the registry lands: Markdown, HTML, Mermaid, shell.

Every title, note, summary, name and path on a generated page was written by whoever opened
the pull request, so none of it may become markup: no raw HTML, no link, no new line that
starts a heading, a list or a table row, no code span or fence it can close, no Mermaid
statement or directive, no shell command a reader copies. One function per context; each is
the identity on plain text (letters, digits, spaces, ``.,;:-_/@+()``), so a registry of
ordinary values renders byte for byte as it did before escaping existed.

Contexts and what each neutralises (CommonMark 0.31 / GFM section numbers in brackets):

* :func:`inline` — Markdown inline text on one line: backslash escapes for ``\\``, backtick
  (code spans, 6.1) and ``[``/``]`` (links and images, 6.3-6.4); ``&``, ``<``, ``>`` as
  entities (raw HTML 6.6, autolinks 6.5, entity references 2.5); a leading ``#``, ``>``,
  ``-``, ``+``, ``*``, ``=``, ``|``, ``~``, ``_`` or ``1.``/``1)`` that would open a block
  (4.x, 5.x) is escaped. Emphasis characters stay: they only style the same line.
* :func:`cell` — a GFM table cell: one line, every ``|`` escaped (GFM 4.10 unescapes ``\\|``
  before inline parsing, also inside code spans).
* :func:`code` — an inline code span fenced with one backtick more than the longest run in
  the value (6.1), so the value cannot close it; line breaks become spaces.
* :func:`link` — a relative link: text through :func:`inline`, the destination
  percent-encoded (RFC 3986 unreserved characters and ``/`` stay), so no scheme
  (``javascript:``), no ``)`` or space can end or redirect it.
* :func:`html` / :func:`html_comment` — HTML text and attribute values; text inside
  ``<!-- -->`` cannot close the comment.
* :func:`mermaid_text` / :func:`mermaid_label` — a double-quoted Mermaid string: one line,
  ``"``, ``<``, ``>``, ``%``, ``#`` as Mermaid entity codes (``#quot;`` ...), which Mermaid
  turns into text after parsing, so a value cannot end the string, start a statement
  (``click ... call``) or a ``%%{init}%%`` directive.
* :func:`shell_word` — one word of a shell snippet in a fenced block: unchanged when it is
  made of shell-safe characters, else single-quoted, or ANSI-C ``$'...'`` quoted when it
  holds a control character (so it stays on one line and cannot close the fence).
* :func:`one_line` — any other single line (a comment in a code block, a YAML template
  line): line breaks become spaces, other control characters U+FFFD.
"""

from __future__ import annotations

import html as _html
import re
import shlex
from urllib.parse import quote

#: Characters that end a line for CommonMark, a browser, Python's splitlines or a terminal.
_LINE_BREAK = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
#: Other C0/C1 controls (tab excepted): invisible, or terminal escape sequences.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
#: A line start CommonMark would read as a block: heading, quote, list, thematic break,
#: setext underline, table, fence. Escaping the first character is enough for each.
_BLOCK_START = re.compile(r"^(?:[#>+\-*=|~_]|\d{1,9}(?=[.)](?:[ \t]|$)))")
#: Characters a POSIX shell never treats specially (shlex's own safe set).
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
#: Characters bash still interprets inside double quotes (``!``: history expansion).
_DQ_SPECIAL = re.compile(r"[$`\\\"!]")


def one_line(value: str) -> str:
    """``value`` on one line: line breaks → space, other control characters → U+FFFD."""
    return _CONTROL.sub("\ufffd", _LINE_BREAK.sub(" ", value))


def inline(value: str) -> str:
    """Free text as Markdown inline content on one line, rendered literally."""
    text = _CONTROL.sub("\ufffd", " ".join(value.split()))
    text = (
        text.replace("\\", "\\\\")
        .replace("`", "\\`")
        .replace("[", "\\[")
        .replace("]", "\\]")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )
    match = _BLOCK_START.match(text)
    if match:
        end = match.end()
        if match.group().isdigit():  # "1." / "1)": escape the delimiter, not the digits
            return f"{text[:end]}\\{text[end:]}"
        return f"\\{text}"
    return text


def cell(value: str) -> str:
    """A GFM table cell from Markdown already escaped for its content: one line, pipes escaped."""
    return " ".join(one_line(value).split()).replace("|", "\\|")


def code(value: str) -> str:
    """``value`` as an inline code span that it cannot close."""
    text = one_line(value)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # One space is stripped from each side when both are spaces (CommonMark 6.1): pad so
    # the value's own edges survive, and so a backtick at an edge does not join the fence.
    edge_space = len(text) > 1 and text[0] == " " and text[-1] == " " and text.strip(" ")
    pad = " " if text.startswith("`") or text.endswith("`") or edge_space or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def link_url(url: str, safe: str = "/") -> str:
    """A relative link destination: everything but unreserved characters and ``safe`` encoded."""
    return quote(url, safe=safe)


def link(text: str, url: str) -> str:
    """``[text](url)`` for a relative ``url``; neither part can become other markup."""
    return f"[{inline(text)}]({link_url(url)})"


def html(value: str) -> str:
    """HTML text or a quoted attribute value, on one line."""
    return _html.escape(one_line(value), quote=True)


def html_comment(value: str) -> str:
    """Text inside ``<!-- ... -->`` that cannot end the comment (no ``>``, no line break)."""
    return one_line(value).replace("<", "&lt;").replace(">", "&gt;")


_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "%": "#37;"}


def mermaid_text(value: str) -> str:
    """The inside of a double-quoted Mermaid string (entity codes, one line)."""
    text = " ".join(one_line(value).split())
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text)


def mermaid_label(value: str) -> str:
    """A double-quoted Mermaid string holding ``value`` as text."""
    return f'"{mermaid_text(value)}"'


def _ansi_c(value: str) -> str:
    out = []
    for ch in value:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
    return "$'" + "".join(out) + "'"


def shell_word(value: str) -> str:
    """One shell word: unchanged when shell-safe, else quoted so the shell reads it literally."""
    if _SHELL_SAFE.fullmatch(value):
        return value
    if value.isprintable():
        return shlex.quote(value)
    return _ansi_c(value)


def shell_dq(value: str) -> str:
    """``"value"`` when nothing in it is special inside double quotes, else :func:`shell_word`.

    The pages always wrote paths double-quoted; plain values keep that form.
    """
    if value.isprintable() and not _DQ_SPECIAL.search(value):
        return f'"{value}"'
    return shell_word(value)
