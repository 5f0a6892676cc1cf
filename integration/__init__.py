"""Baton: the AI-to-human handoff engine for Zendesk, Freshdesk and Intercom."""
