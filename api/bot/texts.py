# ruff: noqa: E501 - a table of sentences reads better unwrapped
"""What the bot says, in Russian (default) and English. HTML parse mode: parameters are escaped by
`t()`, so a seller's article or warehouse name can never break a message."""

from __future__ import annotations

import html
from typing import Any

LANGS = ("ru", "en")

# The menu (setMyCommands), per language; /report is answered by the report module.
COMMANDS: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("status", "Состояние: синхронизации, ключи, тариф"),
        ("sync", "Синхронизировать сейчас"),
        ("stock", "Остатки товара: /stock артикул, nmID или SKU"),
        ("low", "Заканчивается: товары × склады ниже порога"),
        ("plan", "План поставок: что, куда и до какого дня отгрузить"),
        ("report", "Последний отчёт"),
        ("export", "Таблица XLSX"),
        ("settings", "Порог, отчёты, тихие часы, язык"),
        ("connect", "Подключить ключ Wildberries или Ozon"),
        ("help", "Справка"),
        ("stop", "Отвязать этот чат"),
    ],
    "en": [
        ("status", "Status: syncs, keys, plan"),
        ("sync", "Sync now"),
        ("stock", "A product's stock: /stock article, nmID or SKU"),
        ("low", "Running out: products × warehouses below the threshold"),
        ("plan", "Supply plan: what to ship where, and by when"),
        ("report", "The latest report"),
        ("export", "The XLSX sheet"),
        ("settings", "Threshold, reports, quiet hours, language"),
        ("connect", "Connect a Wildberries or Ozon key"),
        ("help", "Help"),
        ("stop", "Unlink this chat"),
    ],
}

TEXTS: dict[str, dict[str, str]] = {
    "not_linked": {
        "ru": "Этот чат не привязан к кабинету Stock Tracker. Получите ссылку для привязки в кабинете "
        "(POST /api/v1/telegram/link) и откройте её.",
        "en": "This chat is not linked to a Stock Tracker account. Get a link in your account "
        "(POST /api/v1/telegram/link) and open it.",
    },
    "linked": {
        "ru": "Готово: чат привязан к «{tenant}». Сюда будут приходить отчёты после синхронизаций. /help — команды.",
        "en": "Done: this chat is linked to “{tenant}”. Sync reports will arrive here. /help lists the commands.",
    },
    "already_linked": {
        "ru": "Чат уже привязан к «{tenant}». /help — команды.",
        "en": "This chat is already linked to “{tenant}”. /help lists the commands.",
    },
    "link_unknown": {
        "ru": "Ссылка недействительна. Получите новую в кабинете.",
        "en": "This link is not valid. Get a new one in your account.",
    },
    "link_expired": {
        "ru": "Ссылка устарела (она действует 15 минут). Получите новую в кабинете.",
        "en": "This link has expired (links last 15 minutes). Get a new one in your account.",
    },
    "link_used": {
        "ru": "Эта ссылка уже использована. Получите новую в кабинете.",
        "en": "This link has already been used. Get a new one in your account.",
    },
    "stopped": {
        "ru": "Чат отвязан: отчёты и уведомления сюда больше не придут.",
        "en": "Chat unlinked: no more reports or alerts here.",
    },
    "help": {
        "ru": "<b>Stock Tracker</b> — остатки Wildberries и Ozon по складам.\n{commands}",
        "en": "<b>Stock Tracker</b> — your Wildberries and Ozon stock by warehouse.\n{commands}",
    },
    "status_title": {"ru": "<b>Состояние «{tenant}»</b>", "en": "<b>Status of “{tenant}”</b>"},
    "status_plan": {"ru": "Тариф: {plan} ({status})", "en": "Plan: {plan} ({status})"},
    "status_trial": {
        "ru": "Пробный период до {date} (осталось дней: {days})",
        "en": "Trial until {date} ({days} days left)",
    },
    "status_no_keys": {
        "ru": "Ключи не подключены: /connect",
        "en": "No keys connected: /connect",
    },
    "status_key": {
        "ru": "{marketplace}: ключ {validity}{expiry}",
        "en": "{marketplace}: key {validity}{expiry}",
    },
    "key_valid": {"ru": "действителен", "en": "valid"},
    "key_invalid": {"ru": "отклонён маркетплейсом", "en": "refused by the marketplace"},
    "key_unchecked": {"ru": "не проверен", "en": "not checked"},
    "key_expiry": {"ru": ", истекает {date} (через {days} дн.)", "en": ", expires {date} (in {days} days)"},
    "status_last_sync": {
        "ru": "Последняя успешная синхронизация: {at} ({age} назад)",
        "en": "Last successful sync: {at} ({age} ago)",
    },
    "status_never": {"ru": "Успешных синхронизаций ещё не было", "en": "No successful sync yet"},
    "status_next": {
        "ru": "Следующая по тарифу: ~{at} (каждые {every})",
        "en": "Next by plan: ~{at} (every {every})",
    },
    "status_running": {
        "ru": "Сейчас идёт синхронизация ({status})",
        "en": "A sync is in progress ({status})",
    },
    "status_failed": {"ru": "Последний запуск не удался: {error}", "en": "The last run failed: {error}"},
    "sync_started": {
        "ru": "Синхронизация запущена (запуск {run_id}). Отчёт придёт, когда она закончится.",
        "en": "Sync started (run {run_id}). The report arrives when it finishes.",
    },
    "stock_usage": {
        "ru": "Укажите товар: /stock артикул продавца, nmID (WB) или SKU (Ozon)",
        "en": "Name a product: /stock seller article, nmID (WB) or SKU (Ozon)",
    },
    "stock_not_found": {"ru": "Товар «{query}» не найден", "en": "Product “{query}” not found"},
    "stock_many": {
        "ru": "Найдено товаров: {count}. Уточните запрос:\n{items}",
        "en": "{count} products match. Narrow it down:\n{items}",
    },
    "stock_title": {
        "ru": "<b>{article}</b> · {marketplace} {product_id}\n{title}\nВсего: {stock} шт · заказов за {window} дн.: {orders} · "
        "хватит на: {cover}",
        "en": "<b>{article}</b> · {marketplace} {product_id}\n{title}\nTotal: {stock} units · orders in {window} days: "
        "{orders} · cover: {cover}",
    },
    "stock_line": {
        "ru": "{name}: {stock} шт · заказов {orders} · {cover}",
        "en": "{name}: {stock} units · {orders} orders · {cover}",
    },
    "stock_none": {
        "ru": "Нет остатков и заказов ни на одном складе",
        "en": "No stock and no orders anywhere",
    },
    "cover_days": {"ru": "{days} дн.", "en": "{days} days"},
    "cover_none": {"ru": "нет заказов", "en": "no orders"},
    "no_data": {
        "ru": "Данных ещё нет: они появятся после первой синхронизации (/sync).",
        "en": "No data yet: it appears after the first sync (/sync).",
    },
    "low_title": {
        "ru": "<b>Ниже порога {threshold} дн.</b> — {count} (стр. {page}/{pages})",
        "en": "<b>Below {threshold} days</b> — {count} (page {page}/{pages})",
    },
    "low_line": {
        "ru": "{n}. <code>{article}</code> · {warehouse}: {stock} шт, заказов {orders} — <b>{cover}</b>",
        "en": "{n}. <code>{article}</code> · {warehouse}: {stock} units, {orders} orders — <b>{cover}</b>",
    },
    "low_none": {
        "ru": "Все товары обеспечены запасом не меньше чем на {threshold} дн.",
        "en": "Every product has at least {threshold} days of cover.",
    },
    "plan_title": {
        "ru": "<b>План поставок на {date}</b> — {count} (стр. {page}/{pages})",
        "en": "<b>Supply plan as of {date}</b> — {count} (page {page}/{pages})",
    },
    "plan_urgent": {
        "ru": "Отгрузить в первую очередь: {count}",
        "en": "Ship first: {count}",
    },
    "plan_line": {
        "ru": "{n}. {doubt}<code>{article}</code> · {marketplace} · {destination}: <b>{units} шт</b> до {ship_by} — {urgency} ({source})",
        "en": "{n}. {doubt}<code>{article}</code> · {marketplace} · {destination}: <b>{units} units</b> by {ship_by} — {urgency} ({source})",
    },
    "plan_doubt": {
        "ru": "⚠ — данные маркетплейса не сходятся, план под вопросом",
        "en": "⚠ — the marketplace's numbers disagree: the plan is in doubt",
    },
    "urgency_overdue": {"ru": "просрочено", "en": "overdue"},
    "urgency_urgent": {"ru": "срочно", "en": "urgent"},
    "urgency_planned": {"ru": "по плану", "en": "planned"},
    "urgency_ok": {"ru": "хватает", "en": "enough"},
    "rate_ozon": {"ru": "скорость Ozon за 28 дн.", "en": "Ozon's 28-day rate"},
    "rate_orders": {"ru": "по заказам за {days} дн.", "en": "orders over {days} days"},
    "out_of_stock": {"ru": "нет в наличии", "en": "out of stock"},
    "export_caption": {"ru": "Таблица остатков «{tenant}»", "en": "Stock sheet of “{tenant}”"},
    "settings_title": {
        "ru": "<b>Настройки чата</b>\nПорог: {threshold} дн.\nОтчёты: {mode}\nТихие часы: {quiet}\nЯзык: русский",
        "en": "<b>Chat settings</b>\nThreshold: {threshold} days\nReports: {mode}\nQuiet hours: {quiet}\nLanguage: English",
    },
    "mode_every_sync": {"ru": "после каждой синхронизации", "en": "after every sync"},
    "mode_daily": {"ru": "раз в день в {hour}:00", "en": "daily at {hour}:00"},
    "mode_alerts": {"ru": "только уведомления", "en": "alerts only"},
    "quiet_off": {"ru": "нет", "en": "none"},
    "quiet_on": {"ru": "{start}:00–{end}:00 ({tz})", "en": "{start}:00–{end}:00 ({tz})"},
    "saved": {"ru": "Сохранено", "en": "Saved"},
    "button_threshold": {"ru": "Порог {days} дн.", "en": "{days} days"},
    "button_every_sync": {"ru": "Каждая синхр.", "en": "Every sync"},
    "button_daily": {"ru": "Раз в день", "en": "Daily"},
    "button_alerts": {"ru": "Только тревоги", "en": "Alerts only"},
    "button_quiet": {"ru": "Тихо {start}–{end}", "en": "Quiet {start}–{end}"},
    "button_quiet_off": {"ru": "Без тихих часов", "en": "No quiet hours"},
    "connect_help": {
        "ru": "Отправьте следующим сообщением ключ:\n• Wildberries — токен API (категории «Контент», «Аналитика», "
        "«Статистика»);\n• Ozon — Client-Id и Api-Key через пробел.\nСообщение с ключом будет сразу удалено из чата.",
        "en": "Send the key as your next message:\n• Wildberries — an API token (Content, Analytics, Statistics "
        "categories);\n• Ozon — Client-Id and Api-Key separated by a space.\nThe message holding the key is deleted at once.",
    },
    "connect_private": {
        "ru": "Ключи принимаются только в личном чате с ботом: напишите /connect мне в личные сообщения.",
        "en": "Keys are taken in a private chat with the bot only: send /connect to me directly.",
    },
    "connect_format": {
        "ru": "Не похоже на ключ: токен Wildberries — одной строкой; для Ozon — Client-Id и Api-Key через пробел.",
        "en": "That does not look like a key: a Wildberries token is one line; for Ozon send Client-Id and Api-Key "
        "separated by a space.",
    },
    "connect_ok": {
        "ru": "{marketplace}: ключ принят и сохранён (отпечаток {fingerprint}). Сообщение с ключом удалено.",
        "en": "{marketplace}: key accepted and stored (fingerprint {fingerprint}). The message with the key was deleted.",
    },
    "connect_refused": {
        "ru": "{message}\nСообщение с ключом удалено.",
        "en": "{message}\nThe message with the key was deleted.",
    },
    "error": {
        "ru": "Не получилось выполнить команду. Повторите позже.",
        "en": "The command failed. Please retry later.",
    },
}


def t(key: str, lang: str, **params: Any) -> str:
    """The text in `lang` (Russian when unknown) with HTML-escaped parameters; a parameter
    wrapped in `Raw` goes in as it is (already HTML)."""
    texts = TEXTS[key]
    template = texts.get(lang) or texts["ru"]
    return template.format(
        **{k: v if isinstance(v, Raw) else html.escape(str(v), quote=False) for k, v in params.items()}
    )


class Raw(str):
    """HTML already made by the bot (a list of lines), not to be escaped again."""


def lang_of(value: str | None) -> str:
    return value if value in LANGS else "ru"
