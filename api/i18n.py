"""Seller-facing messages: Russian by default, English on request.

The language is the first of `ru` / `en` the client asks for in `Accept-Language`, else the
tenant's locale once the user is known, else Russian. Codes stay English and stable: clients
branch on the code, people read the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LANGUAGES = ("ru", "en")
DEFAULT = "ru"

MESSAGES: dict[str, dict[str, str]] = {
    "validation_error": {
        "ru": "Проверьте поля запроса: {fields}",
        "en": "Check the request fields: {fields}",
    },
    "internal_error": {
        "ru": "Внутренняя ошибка сервиса. Повторите позже; если не пройдёт, сообщите номер запроса.",
        "en": "Internal error. Retry later; if it persists, report the request id.",
    },
    "invalid_body": {
        "ru": "Тело запроса не читается как JSON",
        "en": "The request body is not valid JSON",
    },
    "database_unavailable": {
        "ru": "Сервис временно недоступен: база данных перезапускается. Повторите через {seconds} с",
        "en": "Temporarily unavailable: the database is restarting. Retry in {seconds} s",
    },
    "control_characters": {
        "ru": "Адрес запроса содержит управляющие символы",
        "en": "The request address contains control characters",
    },
    "not_found": {"ru": "Не найдено", "en": "Not found"},
    "method_not_allowed": {"ru": "Метод не поддерживается", "en": "Method not allowed"},
    "http_error": {"ru": "Ошибка запроса ({status})", "en": "Request error ({status})"},
    "not_authenticated": {
        "ru": "Нужен вход: передайте токен доступа в заголовке Authorization: Bearer",
        "en": "Sign in first: send an access token as Authorization: Bearer",
    },
    "invalid_token": {"ru": "Токен недействителен", "en": "The token is invalid"},
    "token_expired": {"ru": "Срок действия токена истёк", "en": "The token has expired"},
    "session_revoked": {
        "ru": "Сессия завершена: войдите снова",
        "en": "This session has ended: sign in again",
    },
    "refresh_token_reused": {
        "ru": "Токен обновления уже использовался, поэтому все токены этого входа отозваны. Войдите снова",
        "en": "The refresh token was already used, so every token of this sign-in is revoked. Sign in again",
    },
    "invalid_credentials": {"ru": "Неверный email или пароль", "en": "Wrong email or password"},
    "email_taken": {"ru": "Этот email уже зарегистрирован", "en": "This email is already registered"},
    "invalid_email": {"ru": "Это не адрес электронной почты", "en": "This is not an email address"},
    "forbidden_role": {
        "ru": "Недостаточно прав: это могут роли {roles}",
        "en": "Your role cannot do this; it takes {roles}",
    },
    "tenant_inactive": {
        "ru": "Аккаунт продавца приостановлен",
        "en": "The seller account is suspended",
    },
    "account_locked": {
        "ru": "Слишком много неудачных попыток входа в этот аккаунт. Повторите через {seconds} с",
        "en": "Too many failed sign-ins to this account. Retry in {seconds} s",
    },
    "rate_limited": {
        "ru": "Слишком много запросов. Повторите через {seconds} с",
        "en": "Too many requests. Retry in {seconds} s",
    },
    "invalid_setting": {"ru": "Неверная настройка: {reason}", "en": "Invalid setting: {reason}"},
    "user_not_found": {"ru": "Пользователь не найден", "en": "User not found"},
    "last_owner": {
        "ru": "У аккаунта должен остаться хотя бы один владелец",
        "en": "The account must keep at least one owner",
    },
    "telegram_not_configured": {
        "ru": "Telegram-бот не настроен на этом сервере",
        "en": "The Telegram bot is not configured on this server",
    },
    "telegram_unavailable": {
        "ru": "Telegram не отвечает. Повторите позже",
        "en": "Telegram does not answer. Retry later",
    },
    "telegram_chat_not_found": {"ru": "Чат не найден", "en": "Chat not found"},
    "invalid_webhook_secret": {
        "ru": "Неверный секрет вебхука Telegram",
        "en": "Wrong Telegram webhook secret",
    },
    "credentials_not_found": {
        "ru": "Ключ {marketplace} не подключён",
        "en": "No {marketplace} key is connected",
    },
    "credentials_rejected": {
        "ru": "Маркетплейс не принял ключ: {reason}",
        "en": "The marketplace refused the key: {reason}",
    },
    "marketplace_unavailable": {
        "ru": "Не удалось проверить ключ: {marketplace} не отвечает. Повторите позже",
        "en": "Could not check the key: {marketplace} does not answer. Retry later",
    },
    "product_not_found": {"ru": "Товар не найден", "en": "Product not found"},
    "ambiguous_product": {
        "ru": "Товар с таким номером есть на нескольких маркетплейсах: укажите marketplace",
        "en": "Several marketplaces have a product with this id: give marketplace",
    },
    "no_stock_data": {
        "ru": "Данных об остатках ещё нет: дождитесь первой синхронизации",
        "en": "No stock data yet: wait for the first sync",
    },
    "marketplace_required": {
        "ru": "В CSV помещается один маркетплейс: укажите marketplace ({choices})",
        "en": "A CSV holds one marketplace: give marketplace ({choices})",
    },
    "warehouse_busy": {
        "ru": "Данные обновляются синхронизацией. Повторите через несколько секунд",
        "en": "The data is being updated by a sync. Retry in a few seconds",
    },
    "sync_already_running": {
        "ru": "Синхронизация уже идёт (запуск {run_id})",
        "en": "A sync is already running (run {run_id})",
    },
    "no_credentials": {
        "ru": "Сначала подключите ключ Wildberries или Ozon",
        "en": "Connect a Wildberries or Ozon key first",
    },
    "sync_run_not_found": {"ru": "Запуск синхронизации не найден", "en": "Sync run not found"},
    "dagster_unavailable": {
        "ru": "Сервис синхронизации недоступен. Повторите позже",
        "en": "The sync service is unavailable. Retry later",
    },
    # Plans and billing (DESIGN §6a).
    "plan_quota_exceeded": {
        "ru": "Лимит API тарифа исчерпан: {limit} запросов в месяц. Сброс: {reset}. "
        "Больше запросов — на тарифе {plan}",
        "en": "The plan's API limit is used up: {limit} calls a month. "
        "It resets at {reset}. {plan} allows more",
    },
    "subscription_read_only": {
        "ru": "Подписка не оплачена или отменена: данные доступны только для чтения. Оформите подписку",
        "en": "The subscription is unpaid or canceled: your data is read-only. Subscribe to change it",
    },
    "plan_limit": {
        "ru": "На тарифе {current} можно подключить маркетплейсов: {limit}. Это доступно на тарифе {plan}",
        "en": "The {current} plan connects up to {limit} marketplace(s). The {plan} plan allows this",
    },
    "manual_sync_limit": {
        "ru": "На тарифе {current} можно запускать синхронизацию вручную {limit} раз в час. "
        "Повторите через {seconds} с",
        "en": "The {current} plan allows {limit} manual syncs an hour. Retry in {seconds} s",
    },
    "syncs_paused": {
        "ru": "Синхронизации остановлены: {reason}",
        "en": "Syncs are stopped: {reason}",
    },
    "billing_not_configured": {
        "ru": "Оплата пока не настроена на этом сервере",
        "en": "Billing is not set up on this server",
    },
    "billing_unavailable": {
        "ru": "Платёжный сервис не ответил. Повторите позже",
        "en": "The payment service did not answer. Retry later",
    },
    "no_subscription": {
        "ru": "Платной подписки ещё нет: оформите её через checkout-session",
        "en": "There is no paid subscription yet: start one with checkout-session",
    },
    "subscription_exists": {
        "ru": "Подписка уже оформлена: смените тариф через change-plan или портал оплаты",
        "en": "You already subscribe: change the plan with change-plan or the billing portal",
    },
    "same_tier": {"ru": "Этот тариф уже подключён", "en": "You are already on this plan"},
    "invalid_signature": {
        "ru": "Подпись вебхука неверна или устарела",
        "en": "The webhook signature is invalid or too old",
    },
    "webhooks_not_in_plan": {
        "ru": "Вебхуки доступны на тарифе {plan} и выше",
        "en": "Webhooks come with the {plan} plan and up",
    },
    "webhook_url_refused": {
        "ru": "Адрес вебхука не подходит: {reason}",
        "en": "The webhook URL cannot be used: {reason}",
    },
    "products_left_out": {
        "ru": "Показаны первые {limit} товаров по артикулу продавца: тариф {current}. "
        "Не показано: {count}. Все товары — на тарифе {plan}",
        "en": "Showing the first {limit} products by seller article (the {current} plan). "
        "Left out: {count}. The {plan} plan covers them all",
    },
    "webhook_not_found": {"ru": "Вебхук не найден", "en": "Webhook not found"},
    "webhook_disabled": {
        "ru": "Вебхук отключён: включите его снова (enabled: true)",
        "en": "The webhook is disabled: enable it again (enabled: true)",
    },
}


def language(accept_language: str | None, tenant_locale: str | None = None) -> str:
    """`ru` or `en`: the best of them in Accept-Language, else the tenant's locale, else Russian."""
    best: tuple[float, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        ranked = (quality - position * 1e-6, primary)  # equal q: the earlier one wins
        if best is None or ranked > best:
            best = ranked
    if best is not None:
        return best[1]
    return tenant_locale if tenant_locale in LANGUAGES else DEFAULT


def message(code: str, lang: str, params: Mapping[str, Any] | None = None) -> str:
    templates = MESSAGES.get(code) or MESSAGES["http_error"]
    template = templates.get(lang) or templates[DEFAULT]
    try:
        return template.format(**(params or {}))
    except (KeyError, IndexError):
        return template
