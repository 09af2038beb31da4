"""WhatsApp channel: the Twilio adapter."""
