"""The licensing authority: key directory, service layer, store and HTTP API."""
