"""TTS engines: the :class:`~voice.engines.base.TtsEngine` contract, Piper and edge-tts."""
