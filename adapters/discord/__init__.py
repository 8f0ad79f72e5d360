"""The Discord adapter (discord.py), with voice messages and voice channels."""
