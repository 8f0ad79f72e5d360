"""The message pipeline: middlewares around the command router and the dialogue handler."""
