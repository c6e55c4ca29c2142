"""A client for the Telegram stand-in's control API: play the user (write to the bot, press its
buttons, block it) and read what each chat was sent. Used by tests, the demo and benchmarks."""

from __future__ import annotations

from typing import Any

import requests


class TelegramControl:
    def __init__(self, control_url: str, token: str | None = None, timeout: float = 30) -> None:
        self.base = control_url.rstrip("/") + "/telegram"
        self.token, self.timeout = token, timeout
        self.http = requests.Session()

    def _post(self, path: str, body: Any) -> Any:
        answer = self.http.post(self.base + path, json=body, timeout=self.timeout)
        if answer.status_code >= 400:
            raise ValueError(f"{path}: {answer.status_code} {answer.text}")
        return answer.json()

    def name_bot(self, username: str) -> None:
        self._post("/bots", {"token": self.token, "username": username})

    def bots(self) -> list[dict[str, Any]]:
        return self.http.get(self.base + "/bots", timeout=self.timeout).json()

    def add_chats(self, chats: list[dict[str, Any]]) -> None:
        """Chats the bot may write to ({"id", "type", "title"?}): as if each user had started it."""
        self._post("/chats", chats)

    def say(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        kind: str | None = None,
        title: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """A user writes `text` in the chat (a private chat's user is the chat itself)."""
        chat: dict[str, Any] = {"id": chat_id, "type": kind or ("private" if chat_id > 0 else "supergroup")}
        if title:
            chat["title"] = title
        sender: dict[str, Any] = {"id": user_id if user_id is not None else abs(chat_id)}
        if language_code:
            sender["language_code"] = language_code
        body: dict[str, Any] = {"chat": chat, "from": sender, "text": text}
        if self.token:
            body["token"] = self.token
        return self._post("/messages", body)

    def press(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "chat_id": chat_id,
            "message_id": message_id,
            "data": data,
            "from": {"id": user_id if user_id is not None else abs(chat_id)},
        }
        if self.token:
            body["token"] = self.token
        return self._post("/callbacks", body)

    def block(self, chat_id: int, blocked: bool = True) -> None:
        self._post(f"/chats/{chat_id}/block", {"blocked": blocked})

    def migrate(self, chat_id: int, to: int) -> None:
        """The group becomes a supergroup with the id `to`."""
        self._post(f"/chats/{chat_id}/migrate", {"to": to})

    def outbox(self, chat_id: int) -> dict[str, Any]:
        """{"chat", "calls": [{method, params, ok, …, files?}], "deleted": [ids], "messages": [...]}."""
        answer = self.http.get(f"{self.base}/chats/{chat_id}/outbox", timeout=self.timeout)
        answer.raise_for_status()
        return answer.json()

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        """The calls on the chat that Telegram accepted, in order."""
        return [call for call in self.outbox(chat_id)["calls"] if call["ok"]]

    def file(self, file_id: str) -> bytes:
        answer = self.http.get(f"{self.base}/files/{file_id}", timeout=self.timeout)
        answer.raise_for_status()
        return answer.content
