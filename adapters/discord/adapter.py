"""The Discord adapter: discord.py's client on one side, the bot's bus on the other.

One class per concern, put together here:
    connection      the client (with its own endpoints), login, command sync, the gateway
    incoming        MESSAGE_CREATE -> the bus (``inbound`` translates the message)
    slash           slash commands for the pipeline (``commands`` builds the tree)
    voice_control   /join /leave /say /skip and replies spoken in voice (``voice`` runs the channel)
    listening       what is said in the voice channel -> the bus (``receive`` decodes it)
    listen_command  /listen on|off|always|wake|optout|optin|status
    delivery        outgoing events -> messages, edits, follow-ups, voice messages (``outbound`` streams)
    base            the state and helpers they share
"""

from __future__ import annotations

from adapters.discord.base import UNAVAILABLE
from adapters.discord.connection import Connection, intents_for
from adapters.discord.delivery import SKIP_NOTE_DEFAULT, SKIP_NOTES, Delivery
from adapters.discord.incoming import Incoming
from adapters.discord.listen_command import ListenCommand
from adapters.discord.listening import Listening
from adapters.discord.slash import SlashCommands
from adapters.discord.voice_control import VoiceControl

__all__ = ["SKIP_NOTES", "SKIP_NOTE_DEFAULT", "UNAVAILABLE", "DiscordAdapter", "intents_for"]


class DiscordAdapter(Connection, Incoming, SlashCommands, VoiceControl, Listening, ListenCommand, Delivery):
    """Connects a bot to Discord: messages, slash commands, voice messages and voice channels.

    Args:
        adapter_id: this adapter instance's id (replies are addressed to it).
        bus: the bot's bus.
        config: the ``discord`` section of config.yaml.
        speech: the speech service, for voice channels (voice notes come from the pipeline).
        commands: the pipeline's commands, offered as slash commands (default: voice, voices, reset).
        voice_of: a user's ``/voice`` choice (voice name, rate) for speech in voice channels.
        hearing: builds the bot's hearing (speech in voice channels to utterances); None: no listening.
        listening: how the bot listens in voice channels (``/listen``).
        settings: the bot's settings store, where ``/listen`` keeps its state (None: in memory).
        bot_name: the bot's name (the settings are kept per bot).
    """
