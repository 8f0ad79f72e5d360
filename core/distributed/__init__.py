"""Running one bot over several processes: the Redis Streams bus and the Redis stores."""
