"""Text-to-speech engines, audio conversion and voice-channel audio (implements ``core.speech``)."""
