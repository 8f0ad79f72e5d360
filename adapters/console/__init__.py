"""The console adapter: talk to a bot in the terminal."""
