"""consentgate: decide, enforce and prove which user data may train AI models."""

__version__ = "0.1.0"
