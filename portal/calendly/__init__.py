"""The only code that talks HTTP to Calendly: client, errors, schemas, pagination, pacing."""
