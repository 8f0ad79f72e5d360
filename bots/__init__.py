"""The assembly: builds bots (persona + engine chain + voice + adapters) from config.yaml."""
