"""The seller's Telegram bot (DESIGN §6b): python-telegram-bot, long polling (`stock-tracker bot`)
or webhook updates through the API (`POST /api/v1/telegram/webhook`)."""
