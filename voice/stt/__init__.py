"""Speech to text: faster-whisper offline, OpenAI-compatible servers, and the chain that tries them in order."""
