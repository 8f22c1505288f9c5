"""Test helpers: the synthetic market, fault injection, local service stand-ins."""
