"""What every part reads and nobody changes while running: the directory of missions and
officers, countries and cities, phone numbers, the length of an SMS, and the words officers
read about a case. Imports only the store.
"""
