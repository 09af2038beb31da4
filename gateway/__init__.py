"""Msaada's domain, in the order a message goes through it: the channel adapters (ussd/, sms/,
whatsapp/), the conversation, cases, people, the reference data and the store. Each part imports
only the parts after it (README, "Map of the code"; .importlinter holds the code to it).
"""
