"""The web chat adapter: one page and a WebSocket, served on localhost by default."""
