"""The Telegram Bot API stand-in (`https://api.telegram.org`): bots, chats, updates and outboxes."""
