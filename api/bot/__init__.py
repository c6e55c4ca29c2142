"""The seller's Telegram bot (DESIGN §6b)."""
