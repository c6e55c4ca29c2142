"""Telegram's HTML parse mode, as strict as Telegram: only its tags, every tag closed, entities
escaped. Lengths (4096 for text, 1024 for captions) count what the user sees, after parsing."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from sandbox.telegram.errors import bad_request

# core.telegram.org/bots/api#html-style
TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
        "tg-time",
    ]
)
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            self.error = self.error or f'unsupported start tag "{tag}" at byte offset {self.getpos()[1]}'
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            expected = self.open[-1] if self.open else ""
            where = self.getpos()[1]
            self.error = self.error or (
                f'unmatched end tag at byte offset {where}, expected "</{expected}>", found "</{tag}>"'
            )
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(text: str, parse_mode: str | None) -> str:
    """What the user sees; raises Telegram's 400 for HTML it cannot parse."""
    if not parse_mode:
        return text
    if parse_mode.upper() != "HTML":
        # MarkdownV2 is not used by the product: accept it as plain text.
        return text
    parser = _Parser()
    raw_amp = _bare_ampersand(text)
    if raw_amp is not None:
        raise bad_request(f"can't parse entities: Character '&' is reserved at byte offset {raw_amp}")
    stray = re.search(r"<(?![A-Za-z/])", text)
    if stray is not None:
        # Telegram wants every `<` outside a tag written as &lt;.
        raise bad_request(
            f"can't parse entities: Unexpected end of name token at byte offset {stray.start()}"
        )
    parser.feed(text)
    parser.close()
    if parser.error:
        raise bad_request(f"can't parse entities: {parser.error}")
    if parser.open:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{parser.open[-1]}\""
        )
    return "".join(parser.text)


def _bare_ampersand(text: str) -> int | None:
    """Telegram refuses `&` that does not start an entity (`&amp;`, `&lt;`, `&#60;`, …)."""
    index = text.find("&")
    while index != -1:
        end = text.find(";", index)
        name = text[index + 1 : end] if end != -1 else ""
        if (
            end == -1
            or not name
            or len(name) > 10
            or not (name.isalnum() or (name[0] == "#" and name[1:].isalnum()))
        ):
            return index
        index = text.find("&", end)
    return None


def check_length(text: str, limit: int, *, caption: bool) -> None:
    # Telegram counts UTF-16 code units.
    size = len(text.encode("utf-16-le")) // 2
    if caption and size > limit:
        raise bad_request("message caption is too long")
    if not caption and size > limit:
        raise bad_request("message is too long")
    if not caption and not text.strip():
        raise bad_request("message text is empty")
