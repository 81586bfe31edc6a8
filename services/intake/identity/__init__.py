"""Identity: API clients, their secrets, signing keys and access tokens (OAuth 2.0 client
credentials). Intake hosts it; every service verifies the tokens itself."""
