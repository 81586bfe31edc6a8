"""Stats: projects every event into the official statistics form."""
