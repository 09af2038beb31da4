"""USSD channel: the Africa's Talking adapter and the session logic it shares."""
