"""The conversation: one engine for every channel, flows as data (config/flows/), the texts in
English and Kiswahili, keywords, validators, and the actions flows may call. `chat` serves SMS
and WhatsApp, `menus` USSD sessions; the channel adapters under gateway/ussd|sms|whatsapp call
only these two.
"""
