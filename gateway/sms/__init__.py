"""SMS channels: Africa's Talking and Twilio adapters (officer commands are handled in gateway.conversation.chat)."""
